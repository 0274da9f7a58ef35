"""Load a camera image after checking the file, so a broken one fails naming the file."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.datasets.validation import (MAX_PRINCIPAL_OFFSET, DataValidationError,
                                         check_decoded_image, check_image_file)
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class LoadCameraImage(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with the checks of docs/data_validation.md around it.

    Before decoding: :func:`~s3pt_mm.datasets.validation.check_image_file` reads the header
    (a zero-byte, foreign, corrupt-header or truncated JPEG/PNG is refused with the file's
    name instead of OpenCV's ``(-215:Assertion failed) !buf.empty()``), compares the size
    with ``expected_img_shape`` and checks ``cam2img`` against it (principal point inside the
    image and near its centre). After decoding: the decoder must return an image of the
    header's size. Remote files (``backend_args`` set) skip the header check.

    **Required Keys:**

    - img_path (str)
    - expected_img_shape (Tuple[int, int], optional): (H, W) the dataset records.
    - expected_img_shape_source (str, optional): who states it, for the message.
    - cam2img (np.ndarray, optional): intrinsics, checked against the image's size.

    **Added Keys:** as ``LoadImageFromFile`` (img, img_shape, ori_shape).

    Args:
        max_principal_offset (float, optional): see
            :func:`~s3pt_mm.datasets.validation.check_intrinsics`. Defaults to 0.2.
        **kwargs: ``LoadImageFromFile``'s (``to_float32``, ``color_type``,
            ``imdecode_backend``, ``backend_args``; ``ignore_empty`` is not supported: a
            broken image is an error).
    """

    def __init__(self, max_principal_offset: Optional[float] = MAX_PRINCIPAL_OFFSET,
                 **kwargs) -> None:
        if kwargs.get('ignore_empty'):
            raise ValueError('LoadCameraImage does not ignore broken images; use '
                             'NuScenesCameraDataset(skip_bad_samples=True) or the tools\' '
                             '--skip-bad to leave samples out')
        super().__init__(**kwargs)
        self.max_principal_offset = max_principal_offset

    def transform(self, results: dict) -> dict:
        """Check, then load ``results['img_path']``.

        Raises:
            KeyError: if ``img_path`` is missing.
            FileNotFoundError: if the file does not exist.
            ValueError: (:class:`~s3pt_mm.datasets.validation.DataValidationError`) if the
                file is empty, not a whole JPEG/PNG, cannot be decoded, or its size does not
                match ``expected_img_shape`` / ``cam2img``; the message names sample and file.
        """
        where = describe_sample(results)
        if 'img_path' not in results:
            raise KeyError(f'{where}: no img_path')
        path = results['img_path']
        header = None
        if self.backend_args is None and self.file_client_args is None:
            header = check_image_file(
                path, results.get('expected_img_shape'), cam2img=results.get('cam2img'),
                where=where, max_principal_offset=self.max_principal_offset,
                expected_source=results.get('expected_img_shape_source', 'the dataset records'))
        try:
            out = super().transform(results)
        except Exception as e:  # noqa: BLE001 - whatever the decoder raised, name the file
            raise DataValidationError(f'{where}: image file {path!r}',
                                      f'cannot be decoded ({type(e).__name__}: {e})') from e
        check_decoded_image(out['img'], path, header, where=where)
        return out

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', max_principal_offset={self.max_principal_offset})')
