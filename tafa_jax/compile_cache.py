"""JAX's persistent compilation cache, for runs that repeat (opt-in).

Most of a CPU demo's zoo-building time is compiling: many small programs (one
per architecture, optimiser and attack), each under a second, so JAX's own
cache, which by default keeps only programs that took a second or more to
compile, keeps almost none of them. :func:`enable_compile_cache` keeps every
program. Measured on two CPU cores, `tafa-jax demo --compile-cache DIR` took
54.8 s with an empty cache and 24.0 s on the next run, same scores (README,
"Compile cache").

The cache holds compiled code that JAX runs when it loads it, so it must be
private: the directory (symbolic links resolved) must belong to the user, and
neither it nor any directory above it may be writable by other users (a
sticky directory such as ``/tmp`` is allowed above it, as ssh allows).
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


def _check_private(p: Path) -> None:
    """Refuse ``p`` (resolved) unless it is ours and nobody else can change what it
    holds: it and every directory above it are owned by us or root, and none is
    writable by group or others, except sticky ones above it."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    for i, d in enumerate([p, *p.parents]):
        st = d.stat()
        mode = stat.S_IMODE(st.st_mode)
        if uid is not None and st.st_uid not in ((uid,) if i == 0 else (uid, 0)):
            who = "belongs to another user" if i == 0 else f"lies in {d}, owned by another user"
            raise ValueError(f"the compile cache {p} {who}; JAX runs the programs it loads "
                             "from there: use a directory of your own")
        if mode & (stat.S_IWGRP | stat.S_IWOTH) and (i == 0 or not mode & stat.S_ISVTX):
            where = "is" if i == 0 else f"lies in {d}, which is"
            raise ValueError(f"the compile cache {p} {where} writable by other users (mode "
                             f"{mode:o}); JAX runs the programs it loads from there: use a "
                             "private directory (chmod 700)")


def enable_compile_cache(path: str | os.PathLike | None = None) -> Path:
    """Keep every compiled program of this process in ``path`` (default
    :func:`default_dir`), and load them from there in later processes.

    Call it before the work it should speed up. It is created private (mode 700)
    when missing; JAX is given the resolved path.

    Returns:
      The cache directory, resolved.

    Raises:
      ValueError: ``path`` is not a directory, cannot be created or read, or is
        not private (module doc).
    """
    try:
        p = Path(path).expanduser() if path not in (None, "") else default_dir()
        if p.exists() and not p.is_dir():
            raise ValueError(f"the compile cache must be a directory; {p} is a file")
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        p = p.resolve(strict=True)
        _check_private(p)
    except (OSError, RuntimeError) as err:  # permissions, ~nosuchuser
        raise ValueError(f"cannot use {path or default_dir()} as the compile cache: "
                         f"{err}") from err
    import jax  # here: the CLI imports this module before it needs JAX
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", str(p))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    compilation_cache.reset_cache()  # a process that compiled before now uses it too
    return p
