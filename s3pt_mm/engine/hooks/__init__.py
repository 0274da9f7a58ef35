from .epoch_loss_recorder_hook import EpochLossRecorderHook
from .s3pt_schedule_hook import S3PTScheduleHook

__all__ = ['EpochLossRecorderHook', 'S3PTScheduleHook']
