"""The wheel users install: every module of the package in it, importable from it, and the commands."""
import os
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_the_wheel_holds_every_module_and_the_commands(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), ROOT], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = os.listdir(tmp_path / "dist")
    with zipfile.ZipFile(tmp_path / "dist" / wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    package = os.path.join(ROOT, "splitgan_keras")
    modules = {os.path.relpath(os.path.join(folder, name), ROOT)
               for folder, _, files in os.walk(package) for name in files if name.endswith(".py")}
    assert modules and modules <= names, sorted(modules - names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = (tmp_path / "unpacked" / entry_points).read_text()
    assert "splitgan-train = splitgan_keras.cli.main:train_command" in text
    assert "splitgan-eval = splitgan_keras.cli.main:eval_command" in text
    # Every module imports from the wheel's files (PYTHONPATH comes before the editable install).
    dotted = sorted(m[:-3].replace(os.sep, ".").replace(".__init__", "") for m in modules)
    check = ("import importlib, sys; mods = [importlib.import_module(m) for m in sys.argv[1:]]; "
             "assert all(m.__file__.startswith(%r) for m in mods), [m.__file__ for m in mods]"
             % str(tmp_path / "unpacked"))
    imported = subprocess.run([sys.executable, "-c", check] + dotted, cwd=str(tmp_path), capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(tmp_path / "unpacked")))
    assert imported.returncode == 0, imported.stderr[-2000:]
