from .s3pt_head import ProjectionOutput, S3PTHead

__all__ = ['ProjectionOutput', 'S3PTHead']
