"""Install s3pt_mm. Requirements are read from ``requirements/*.txt``.

CUDA kernels (``s3pt_mm/ops/csrc``, built as ``s3pt_mm._ext``) are compiled the way mmcv
compiles its ops: when ``torch.cuda.is_available()`` or ``FORCE_CUDA=1``; otherwise the package
installs without them and every op uses its PyTorch path. See docs/installation.md.

Environment variables read here:

- ``FORCE_CUDA=1``: build the extension without a visible GPU (CI compiles it this way).
- ``CUDA_HOME`` (or ``CUDA_PATH``): the CUDA toolkit to build with. Without it the toolkit is
  found from the ``nvcc`` on the PATH, following wrapper scripts (see :func:`find_cuda_home`).
- ``TORCH_CUDA_ARCH_LIST``: GPU architectures to compile for; defaults to the visible GPU's,
  or to ``9.0`` (H100 / H200) when none is visible.
- ``MAX_JOBS``: parallel compiler processes (torch's ninja build).
"""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
from typing import List, Optional

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
CSRC = osp.join('s3pt_mm', 'ops', 'csrc')
# Architecture compiled for when no GPU is visible: the project's H100 / H200 machines.
DEFAULT_CUDA_ARCH_LIST = '9.0'


def parse_requirements(fname: str) -> list:
    """Return the requirement lines of ``requirements/<fname>`` (comments dropped)."""
    with open(osp.join(ROOT, 'requirements', fname)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 's3pt_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def is_cuda_toolkit(path: str) -> bool:
    """True when ``path`` holds a CUDA toolkit: ``bin/nvcc`` and a ``libcudart.so``."""
    libs = ('lib64', 'lib', osp.join('targets', '*-linux', 'lib'))
    return osp.isfile(osp.join(path, 'bin', 'nvcc')) and any(
        glob.glob(osp.join(path, lib, 'libcudart.so*')) for lib in libs)


def _nvcc_release(nvcc: str) -> Optional[str]:
    """``'13.0'`` from ``nvcc --version`` (None if it does not run)."""
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'release (\d+\.\d+)', out)
    return match.group(1) if match else None


def _toolkits_named_in(path: str) -> List[str]:
    """Toolkit folders a wrapper script names (``exec /usr/local/cuda-13.0/bin/nvcc "$@"``)."""
    try:
        if osp.getsize(path) > 1 << 16:
            return []  # a real nvcc binary, not a wrapper script
        with open(path, errors='ignore') as f:
            text = f.read()
    except OSError:
        return []
    return [m.group(1) for m in re.finditer(r'(/[^\s"\'`;:]+?)/bin/nvcc\b', text)]


def find_cuda_home() -> Optional[str]:
    """The CUDA toolkit to build with, or None.

    torch's ``cpp_extension`` takes ``dirname(dirname(which nvcc))``, which is wrong when the
    ``nvcc`` on the PATH is a wrapper script (``/usr/local/bin/nvcc`` -> ``CUDA_HOME=/usr/local``
    and the link fails with ``cannot find -lcudart``). Order: ``CUDA_HOME`` / ``CUDA_PATH``
    as given; the ``nvcc`` on the PATH with symlinks resolved; toolkits its text names (a
    wrapper); then ``/usr/local/cuda*`` and ``/opt/cuda*`` folders, those whose version is
    the ``nvcc --version`` release first. A candidate must contain ``bin/nvcc`` and
    ``libcudart.so``.
    """
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        if os.environ.get(var):
            return os.environ[var]
    nvcc = shutil.which('nvcc')
    candidates = []
    if nvcc:
        real = osp.realpath(nvcc)
        candidates.append(osp.dirname(osp.dirname(real)))
        candidates += _toolkits_named_in(real)
    release = _nvcc_release(nvcc) if nvcc else None
    found = sorted(glob.glob('/usr/local/cuda*') + glob.glob('/opt/cuda*'))
    # The folder of nvcc's own release first, then the newest.
    found.sort(key=lambda p: (release is None or not p.endswith('-' + release),
                              [-int(n) for n in re.findall(r'\d+', osp.basename(p))]))
    candidates += found
    for path in candidates:
        if is_cuda_toolkit(path):
            return osp.normpath(path)
    return None


def library_header_dirs(cuda_home: str) -> List[str]:
    """Folders with the CUDA library headers ``ATen/cuda/CUDAContext.h`` includes, when the
    toolkit lacks them.

    A toolkit installed without cuBLAS / cuSPARSE development files (this project's CI image)
    has no ``cusparse.h``; the ``nvidia-*`` wheels that torch depends on ship those headers
    (``site-packages/nvidia/cu13/include``). They are searched after the toolkit's own
    (``-isystem``), so the toolkit's runtime headers still win.
    """
    if osp.isfile(osp.join(cuda_home, 'include', 'cusparse.h')):
        return []
    try:
        import nvidia
    except ImportError:
        return []
    found = (inc for base in nvidia.__path__
             for inc in sorted(glob.glob(osp.join(base, '*', 'include'))))
    return [inc for inc in found if osp.isfile(osp.join(inc, 'cusparse.h'))]


def cuda_extensions():
    """``([CUDAExtension], {'build_ext': BuildExtension})``, or ``([], {})`` without CUDA."""
    try:
        import torch
    except ImportError:  # metadata-only steps (pip's egg_info) run before torch is installed
        return [], {}
    force = os.environ.get('FORCE_CUDA', '0') == '1'
    if not (force or torch.cuda.is_available()):
        print('s3pt_mm: no GPU visible and FORCE_CUDA is not 1: installing without the CUDA '
              'extension (the PyTorch paths are used)')
        return [], {}
    cuda_home = find_cuda_home()
    if cuda_home is None:
        raise RuntimeError('s3pt_mm: building the CUDA extension (FORCE_CUDA=1 or a visible '
                           'GPU) needs the CUDA toolkit: set CUDA_HOME to the folder that '
                           'holds bin/nvcc and lib64/libcudart.so')
    # cpp_extension reads CUDA_HOME when it is imported: set it first, and patch it too in
    # case something imported it already.
    os.environ['CUDA_HOME'] = cuda_home
    if not os.environ.get('TORCH_CUDA_ARCH_LIST') and not torch.cuda.is_available():
        os.environ['TORCH_CUDA_ARCH_LIST'] = DEFAULT_CUDA_ARCH_LIST
    from torch.utils import cpp_extension
    cpp_extension.CUDA_HOME = cuda_home
    print(f's3pt_mm: building the CUDA extension with CUDA_HOME={cuda_home}, '
          f'TORCH_CUDA_ARCH_LIST={os.environ.get("TORCH_CUDA_ARCH_LIST", "(visible GPU)")}')

    # Every source registers its own operators (TORCH_LIBRARY_FRAGMENT): a new file in
    # csrc/ or csrc/cuda/ is compiled without touching this list.
    # Paths relative to this file, as setuptools wants them.
    sources = sorted(glob.glob(osp.join(CSRC, '**', '*.cpp'), root_dir=ROOT, recursive=True) +
                     glob.glob(osp.join(CSRC, '**', '*.cu'), root_dir=ROOT, recursive=True))
    # No fast math: the kernels must round like the PyTorch paths they replace;
    # -ffp-contract=off keeps the host compiler from fusing a * b + c (the CPU copies of the
    # kernels are tested against torch on CPU-only machines).
    system_includes = [flag for inc in library_header_dirs(cuda_home) for flag in ('-isystem', inc)]
    extension = cpp_extension.CUDAExtension(
        name='s3pt_mm._ext',
        sources=sources,
        define_macros=[('WITH_CUDA', None)],
        extra_compile_args={
            'cxx': ['-O3', '-ffp-contract=off'] + system_includes,
            'nvcc': ['-O3', '-lineinfo', '-Xcompiler', '-ffp-contract=off'] + system_includes,
        })
    return [extension], {'build_ext': cpp_extension.BuildExtension}


#: What ``mim`` reads from an installed package: ``s3pt_mm/.mim/{configs,tools,model-index.yml}``.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension() -> None:
    """Populate ``s3pt_mm/.mim`` the way mmpretrain / mmdet3d do, so that ``mim train s3pt_mm
    CONFIG`` and ``mim search s3pt_mm`` work from an installed package.

    A wheel or sdist build (``bdist_wheel``, ``sdist``, ``build``, ``install``) copies the
    configs, tools and ``model-index.yml`` into the package; a development install (``develop``,
    ``editable_wheel``) links them, so edits show without reinstalling. Other commands
    (``egg_info``, ...) leave the folder alone.
    """
    import sys
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('bdist_wheel', 'sdist', 'build', 'install')):
        mode = 'copy'
    else:
        return
    mim_root = osp.join(ROOT, 's3pt_mm', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(ROOT, name)
        dst = osp.join(mim_root, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if not osp.exists(src):
            continue
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_root), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def mim_package_data() -> List[str]:
    """The files under ``s3pt_mm/.mim`` (relative to the package), for ``package_data``."""
    mim_root = osp.join(ROOT, 's3pt_mm', '.mim')
    files = []
    for dirpath, _, filenames in os.walk(mim_root, followlinks=True):
        files += [osp.relpath(osp.join(dirpath, f), osp.join(ROOT, 's3pt_mm'))
                  for f in filenames if not f.endswith('.pyc')]
    return sorted(files)


add_mim_extension()
ext_modules, cmdclass = cuda_extensions()

setup(
    name='s3pt_mm',
    version=get_version(),
    description='S3PT: scene semantics and structure guided clustering for self-supervised '
    'pre-training on driving data, for OpenMMLab',
    long_description=open(osp.join(ROOT, 'README.md')).read() if osp.exists(osp.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['s3pt_mm', 's3pt_mm.*']),
    package_data={'s3pt_mm.ops': ['csrc/*.cpp', 'csrc/*.h', 'csrc/**/*.cu', 'csrc/**/*.cuh'],
                  's3pt_mm': mim_package_data()},
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'mim': parse_requirements('mminstall.txt'),
        'tests': parse_requirements('tests.txt'),
        'build': parse_requirements('build.txt'),
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
