from .hooks import S3PTScheduleHook
from .optimizers import StudentOptimWrapperConstructor
from .utils import get_ori_model

__all__ = ['S3PTScheduleHook', 'StudentOptimWrapperConstructor', 'get_ori_model']
