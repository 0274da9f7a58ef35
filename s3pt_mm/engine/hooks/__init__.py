from .checkpoint_compatibility_hook import CheckpointCompatibilityHook, CheckpointMismatchError
from .epoch_loss_recorder_hook import EpochLossRecorderHook
from .iteration_seed_hook import IterationSeedHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .s3pt_schedule_hook import S3PTScheduleHook
from .schedule_fit_hook import ScheduleFitHook

__all__ = ['CheckpointCompatibilityHook', 'CheckpointMismatchError', 'EpochLossRecorderHook',
           'IterationSeedHook', 'NonFiniteLossError', 'NonFiniteLossHook', 'S3PTScheduleHook',
           'ScheduleFitHook']
