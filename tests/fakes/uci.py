#!/usr/bin/env python3
"""FAKE ``uci`` (OpenWrt's config CLI) for tests: state in the JSON file named by $FAKE_UCI_STATE.

Supports what dhcp_reservation uses — ``get``, ``set``, ``delete``, ``show PACKAGE``, ``changes PACKAGE``,
``commit PACKAGE``, ``revert PACKAGE`` and ``-q`` — with OpenWrt's staging semantics: ``set``/``delete`` are
staged, ``get``/``show`` see staged values, ``commit`` makes them permanent. $FAKE_UCI_FAIL="set" (a command name)
makes that command fail, for fault injection. Not OpenWrt: the state file is {"committed": {...}, "staged": [...]}.
"""

import json
import os
import subprocess
import sys


def load():
    with open(os.environ["FAKE_UCI_STATE"]) as fh:
        return json.load(fh)


def save(state):
    with open(os.environ["FAKE_UCI_STATE"], "w") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)


def view(state):
    data = json.loads(json.dumps(state["committed"]))
    for op, key, value in state["staged"]:
        pkg, sec, *opt = key.split(".")
        section = data.setdefault(pkg, {}).setdefault(sec, {})
        if op == "set":
            section[opt[0]] = value
        elif op == "delete":
            section.pop(opt[0], None)
    return data


def main(argv):
    quiet = "-q" in argv
    argv = [a for a in argv if a != "-q"]
    if not argv:
        return 1
    cmd, args = argv[0], argv[1:]
    if os.environ.get("FAKE_UCI_FAIL") == cmd:
        print("uci: I/O error (injected)", file=sys.stderr)
        return 1
    state = load()
    data = view(state)
    if cmd == "get":
        pkg, sec, opt = args[0].split(".")
        value = data.get(pkg, {}).get(sec, {}).get(opt)
        if value is None:
            if not quiet:
                print("uci: Entry not found", file=sys.stderr)
            return 1
        print(value)
    elif cmd == "show":
        pkg = args[0]
        for sec, options in data.get(pkg, {}).items():
            print(f"{pkg}.{sec}={options.get('.type', 'section')}")
            for k, v in options.items():
                if k != ".type":
                    print(f"{pkg}.{sec}.{k}='{v}'")
    elif cmd in ("set", "delete"):
        key, _, value = args[0].partition("=")
        pkg, sec, *opt = key.split(".")
        if sec not in data.get(pkg, {}):
            print("uci: Invalid argument", file=sys.stderr)
            return 1
        state["staged"].append([cmd, key, value])
        save(state)
    elif cmd == "changes":
        for op, key, value in state["staged"]:
            if key.startswith(args[0] + "."):
                print(f"{key}='{value}'" if op == "set" else f"-{key}")
    elif cmd == "commit":
        state["committed"] = {**state["committed"], args[0]: view(state).get(args[0], {})}
        state["staged"] = [s for s in state["staged"] if not s[1].startswith(args[0] + ".")]
        save(state)
    elif cmd == "revert":
        state["staged"] = [s for s in state["staged"] if not s[1].startswith(args[0] + ".")]
        save(state)
    else:
        print(f"uci: unknown command {cmd}", file=sys.stderr)
        return 1
    return 0


class Runner:
    """For tests that drive a backend against this fake: ``module.run_command``'s shape over subprocess, with the
    fake's state file in the environment; ``commands`` records every call."""


    def __init__(self, env):
        self.env = env
        self.commands = []

    def __call__(self, args):
        self.commands.append(list(args))
        proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, **self.env), timeout=10)
        return proc.returncode, proc.stdout, proc.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
