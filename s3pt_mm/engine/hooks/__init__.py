from .s3pt_schedule_hook import S3PTScheduleHook

__all__ = ['S3PTScheduleHook']
