"""The opt-in persistent compile cache: private, every program kept, refusals clear.

Each check runs in a fresh process, so this process's JAX configuration stays as
it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tafa_jax.compile_cache import ENV, default_dir


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_every_small_program_is_kept_and_found_again(tmp_path):
    cache = tmp_path / "xla"
    code = ("import jax, jax.numpy as jnp, tafa_jax\n"
            "hits = []\n"
            "jax.monitoring.register_event_listener(lambda e, **kw: hits.append(e)"
            " if e == '/jax/compilation_cache/cache_hits' else None)\n"
            f"print(tafa_jax.enable_compile_cache({str(cache)!r}))\n"
            "jax.jit(lambda x: jnp.tanh(x) * 3 + 1)(jnp.ones(7)).block_until_ready()\n"
            "print(len(hits))")
    first = _python(code)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [str(cache), "0"]
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    # a program compiled in milliseconds: JAX's default (one second) would keep nothing
    assert any(cache.iterdir()), "nothing was cached"
    again = _python(code)
    assert again.returncode == 0, again.stderr
    assert int(again.stdout.split()[1]) >= 1  # loaded from the cache, not compiled


def test_the_cli_option_and_the_environment_enable_it(tmp_path):
    missing = tmp_path / "no-report"
    for how, env in ((["--compile-cache", str(tmp_path / "a")], None),
                     ([], {ENV: str(tmp_path / "b")})):
        run = _python("import sys; from tafa_jax.cli import main; "
                      f"sys.exit(main(['report', {str(missing)!r}, *{how!r}]))", env)
        assert run.returncode == 2  # the report is missing; the cache came first
        assert (tmp_path / ("a" if env is None else "b")).is_dir()


def test_unsafe_or_wrong_paths_are_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for path, msg in ((shared, "writable by other users"), (a_file, "is a file")):
        run = _python("import sys; from tafa_jax.cli import main; "
                      f"sys.exit(main(['report', 'x', '--compile-cache', {str(path)!r}]))")
        assert run.returncode == 2 and msg in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_dir() == tmp_path / "tafa-jax" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_dir() == Path.home() / ".cache" / "tafa-jax" / "xla"


@pytest.mark.skipif(os.geteuid() != 0 if hasattr(os, "geteuid") else True,
                    reason="needs root to make a directory another user owns")
def test_a_directory_of_another_user_is_refused(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    os.chown(other, 12345, 12345)
    run = _python("import sys; from tafa_jax.cli import main; "
                  f"sys.exit(main(['report', 'x', '--compile-cache', {str(other)!r}]))")
    assert run.returncode == 2 and "belongs to another user" in run.stderr, run.stderr
