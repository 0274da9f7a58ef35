from .s3pt import S3PT

__all__ = ['S3PT']
