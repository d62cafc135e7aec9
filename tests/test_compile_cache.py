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


def _python(code: str, env: dict | None = None, args: tuple[str, ...] = ()
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


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
    assert first.stdout.split() == [str(cache.resolve()), "0"]
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    # a program compiled in milliseconds: JAX's default (one second) would keep nothing
    assert any(cache.iterdir()), "nothing was cached"
    again = _python(code)
    assert again.returncode == 0, again.stderr
    assert int(again.stdout.split()[1]) >= 1  # loaded from the cache, not compiled


def test_the_cli_option_and_the_environment_enable_it(tmp_path):
    missing = tmp_path / "no-report"
    show = ("import sys, jax; from tafa_jax.cli import main; rc = main(['report', "
            f"{str(missing)!r}, *sys.argv[1:]]); "
            "print(jax.config.jax_compilation_cache_dir); sys.exit(rc)")
    for how, env, want in ((("--compile-cache", str(tmp_path / "a")), None, "a"),
                           ((), {ENV: str(tmp_path / "b")}, "b"),
                           ((f"--compile-cache={tmp_path / 'c'}",), {ENV: str(tmp_path / "b")},
                            "c")):  # the option beats the environment
        run = _python(show, env, how)
        assert run.returncode == 2  # the report is missing; the cache came first
        assert run.stdout.strip() == str((tmp_path / want).resolve()), run.stderr


def test_unsafe_or_wrong_paths_are_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    loose = tmp_path / "loose"  # a private leaf in a directory others can write to
    (loose / "inner").mkdir(parents=True, mode=0o700)
    loose.chmod(0o777)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for path, msg in ((shared, "writable by other users"), (a_file, "is a file"),
                      (loose / "inner", f"lies in {loose}, which is writable"),
                      ("~nosuchuser-tafa/x", "cannot use ~nosuchuser-tafa/x")):
        run = _python("import sys; from tafa_jax.cli import main; "
                      f"sys.exit(main(['report', 'x', '--compile-cache', {str(path)!r}]))")
        assert run.returncode == 2 and msg in run.stderr, run.stderr
        assert "Traceback" not in run.stderr


def test_a_symlink_is_resolved_and_a_sticky_parent_allowed(tmp_path):
    sticky = tmp_path / "sticky"
    (sticky / "mine").mkdir(parents=True, mode=0o700)
    sticky.chmod(0o1777)  # as /tmp
    link = tmp_path / "link"
    link.symlink_to(sticky / "mine")
    run = _python(f"import tafa_jax; print(tafa_jax.enable_compile_cache({str(link)!r}))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str((sticky / "mine").resolve())  # JAX gets the target


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
