#!/usr/bin/env python3
"""Replays the Dockerfile `cortex cluster build` writes into a root file system, with chroot, where no
container engine runs (scripts/verify-image.sh). It understands only the instructions that Dockerfile
uses — FROM (the base root file system is given, already assembled), RUN (one line, `/bin/sh -c`),
ENV, COPY (from the context), WORKDIR, EXPOSE, ENTRYPOINT and CMD (JSON form) — and stops on any
other. Prints the image's config (entrypoint, command, environment, working directory) as JSON.

usage: replay_dockerfile.py CONTEXT ROOTFS CONFIG_OUT [KEY=VALUE...]
  KEY=VALUE: variables for the RUN steps only, not the image's (like a build secret: e.g. PIP_CERT
  behind a TLS-inspecting proxy).
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import time


def chroot_run(root, command, env, workdir, build_env):
    """RUN: `/bin/sh -c` inside the root, with the image's environment (as a builder would)."""
    full = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", **env,
            **build_env}
    script = f"cd {shlex.quote(workdir)} && {command}"
    subprocess.run(["chroot", root, "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in full.items()],
                    "/bin/sh", "-c", script], check=True)


def copy(context, root, source, destination):
    """COPY: a folder's contents (source ending in /) or one file, as Docker does."""
    src = os.path.join(context, source)
    dst = os.path.join(root, destination.lstrip("/"))
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def main():
    context, root, config_out = sys.argv[1:4]
    build_env = dict(pair.split("=", 1) for pair in sys.argv[4:])
    env, workdir, config = {}, "/", {}
    lines = [line for line in open(os.path.join(context, "Dockerfile")).read().splitlines()
             if line.strip() and not line.startswith("#")]
    for line in lines:
        instruction, _, rest = line.partition(" ")
        started = time.monotonic()
        print(f"--> {line[:140]}", flush=True)
        if instruction == "FROM":
            config["from"] = rest  # the root file system given stands for it
        elif instruction == "RUN":
            chroot_run(root, rest, env, workdir, build_env)
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        elif instruction == "COPY":
            source, destination = rest.split()
            copy(context, root, source, destination)
        elif instruction == "WORKDIR":
            workdir = rest
            os.makedirs(os.path.join(root, workdir.lstrip("/")), exist_ok=True)
        elif instruction == "EXPOSE":
            config["expose"] = int(rest)
        elif instruction in ("ENTRYPOINT", "CMD"):
            config[instruction.lower()] = json.loads(rest)
        else:
            sys.exit(f"replay_dockerfile.py: {instruction} is not one of the instructions it replays")
        print(f"    ({time.monotonic() - started:.1f}s)", flush=True)
    config.update(env=env, workdir=workdir)
    with open(config_out, "w") as out:
        json.dump(config, out, indent=2)


if __name__ == "__main__":
    main()
