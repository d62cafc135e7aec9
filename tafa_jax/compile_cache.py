"""JAX's persistent compilation cache, for runs that repeat (opt-in).

Most of a CPU demo's zoo-building time is compiling: many small programs (one
per architecture, optimiser and attack), each under a second, so JAX's own
cache, which by default keeps only programs that took a second or more to
compile, keeps almost none of them. :func:`enable_compile_cache` keeps every
program. Measured on two CPU cores, `tafa-jax demo --compile-cache DIR` took
54.8 s with an empty cache and 24.0 s on the next run, same scores (README,
"Compile cache").

The cache holds compiled code that JAX runs when it loads it, so it must be
private: a directory that another user can write to is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV = "TAFA_JAX_COMPILE_CACHE"


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/tafa-jax/xla`` (``~/.cache/tafa-jax/xla`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tafa-jax" / "xla"


def enable_compile_cache(path: str | os.PathLike | None = None) -> Path:
    """Keep every compiled program of this process in ``path`` (default
    :func:`default_dir`), and load them from there in later processes.

    Call it before the work it should speed up. It is created private (mode 700)
    when missing.

    Returns:
      The cache directory.

    Raises:
      ValueError: ``path`` is not a directory, or other users can write to it.
    """
    p = Path(path).expanduser() if path not in (None, "") else default_dir()
    if p.exists() and not p.is_dir():
        raise ValueError(f"the compile cache must be a directory; {p} is a file")
    try:
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise ValueError(f"cannot create the compile cache directory {p}: {err}") from err
    st = p.stat()
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError(f"the compile cache {p} is writable by other users (mode "
                         f"{stat.S_IMODE(st.st_mode):o}); JAX runs the programs it loads "
                         "from there: use a private directory (chmod 700)")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ValueError(f"the compile cache {p} belongs to another user; JAX runs the "
                         "programs it loads from there: use a directory of your own")
    import jax  # here: the CLI imports this module before it needs JAX
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", str(p))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.reset_cache()  # a process that compiled before now uses it too
    return p
