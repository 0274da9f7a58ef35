from .hooks import (CheckpointCompatibilityHook, CheckpointMismatchError, IterationSeedHook,
                    NonFiniteLossError, NonFiniteLossHook, S3PTScheduleHook, ScheduleFitHook)
from .optimizers import StudentOptimWrapperConstructor
from .resume import ResumeError, checkpoint_problem, find_checkpoints, plan_resume
from .schedule_fit import schedule_problems
from .utils import get_ori_model

__all__ = ['S3PTScheduleHook', 'StudentOptimWrapperConstructor', 'get_ori_model',
           'CheckpointCompatibilityHook', 'CheckpointMismatchError', 'IterationSeedHook',
           'NonFiniteLossError', 'NonFiniteLossHook', 'ScheduleFitHook', 'ResumeError',
           'checkpoint_problem', 'find_checkpoints', 'plan_resume', 'schedule_problems']
