"""Run the web server, a Celery worker and Celery beat together for local use.

`make run` calls this after migrating and loading the demo data. Each process runs in
its own process group with its output prefixed; Ctrl-C (or SIGTERM) stops all three,
and if one of them dies the others are stopped too, so nothing is left running.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 8000
STOP_GRACE_SECONDS = 10

PROCESSES = {
    "web": [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}"],
    "worker": [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "loyalty",
        "worker",
        "--loglevel=INFO",
        "--concurrency=2",
    ],
    "beat": [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "loyalty",
        "beat",
        "--loglevel=INFO",
        "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
    ],
}

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def pump(name: str, stream) -> None:
    for raw in iter(stream.readline, b""):
        say(f"[{name:<6}] {raw.decode(errors='replace').rstrip()}")


def start(name: str, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own process group: Ctrl-C reaches only this supervisor, which then stops each
        # group as a whole (runserver's reloader child, the worker's pool processes).
        start_new_session=True,
    )
    threading.Thread(target=pump, args=(name, process.stdout), daemon=True).start()
    return process


def kill_groups(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def stop(processes: dict[str, subprocess.Popen]) -> None:
    # SIGTERM to each main process: the worker finishes its tasks and stops its pool,
    # runserver's reloader stops the serving child, beat exits.
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    # Whatever is still there (a task that would not finish, a stray grandchild) goes.
    kill_groups(processes)
    for process in processes.values():
        process.wait()


def web_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    if web_answers():
        say(f"Port {PORT} on {HOST} is already in use: stop whatever listens there first.")
        return 1
    stopping = threading.Event()

    def on_signal(signum, _frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processes = {name: start(name, argv) for name, argv in PROCESSES.items()}
    say("Started web, worker and beat. Ctrl-C stops all three.")
    announced = False
    exit_code = 0
    while not stopping.wait(0.5):
        if not announced and web_answers():
            say(f"Ready: http://{HOST}:{PORT}/admin/  (Ctrl-C to stop)")
            announced = True
        dead = [name for name, process in processes.items() if process.poll() is not None]
        if dead:
            say(f"{', '.join(dead)} exited; stopping the others.")
            exit_code = 1
            break
    say("Stopping web, worker and beat…")
    stop(processes)
    say("Stopped.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
