#!/usr/bin/env python3
"""FAKE OpenWrt ``uci``: libuci's data model and the ``uci`` CLI, over a directory standing in for the router's ``/``.

OpenWrt cannot run here, so this models openwrt/uci at 16ff0bad (the ``PKG_SOURCE_VERSION`` of OpenWrt 24.10.4;
23.05.4's 5781664d gives identical transcripts) from its source, and ``tests/unit/plugins/openwrt/
test_uci_transcripts.py`` replays all 440 recorded runs of the real binary (tests/data/openwrt/uci-transcripts.jsonl)
through it: argv, exit code, stdout, stderr, the config files and the delta files after each step.

The model, with the upstream lines it follows (file:line at 16ff0bad):

* files: ``/etc/config/<package>`` parsed as in file.c:391-561 (``config``/``option``/``list``/``package`` lines,
  quotes, ``#`` comments); written back by ``commit`` as ``uci_export`` does (file.c:610-643, no ``package`` header,
  a blank line before every section, one tab before each option).
* unnamed sections are named ``cfg`` + the 2-hex-digit section counter + 4 hex digits of a djb hash of the type
  (list.c:128-176, fixed up when created, so before any option exists); ``show`` calls them ``@type[n]`` except when
  the section itself is addressed or with ``-X`` (cli.c:87-137, 270-281, 351-364).
* changes are not applied to the file: each command appends delta lines to ``/tmp/.uci/<package>`` (prefixes
  ``+ - @ ^ | ~``, delta.c:69-97, 149-157) and every load replays them (delta.c:214-352); ``commit`` re-reads the file,
  replays and truncates the deltas, and rewrites the file only if there were any (file.c:736-840);
  ``revert`` filters them (delta.c:355-462).
* ``set`` of an unchanged value records nothing; an empty value deletes; ``add_list`` on a plain option turns it
  into a list; ``del_list`` of a missing value is still recorded (list.c:595-760).
* errors: ``uci: Entry not found`` / ``Invalid argument`` / ``Parse error`` (libuci.c:29-38), exit 1; ``batch`` always
  exits 0 (cli.c:588-610); ``-P DIR`` moves the delta directory and makes ``commit`` a no-op, ``-t DIR`` only moves
  it (cli.c:734-746, 331-336).

Not modelled: ``import``, ``-f``, ``-m``, ``-n/-N``, ``-S``, conf2dir (``-C``), file locking, ``/etc/config`` outside
the root. The root comes from $FAKE_UCI_ROOT (the router's ``/``); every path, including ``-c/-t/-P`` arguments, is
inside it. $FAKE_UCI_FAIL=<command> makes that command fail with ``uci: I/O error`` (fault injection; not OpenWrt).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

OK, INVAL, NOTFOUND, IO, PARSE, DUPLICATE = 0, 2, 3, 4, 5, 6
ERRSTR = {
    INVAL: "Invalid argument",
    NOTFOUND: "Entry not found",
    IO: "I/O error",
    PARSE: "Parse error",
    DUPLICATE: "Duplicate entry",
}
ADD, REMOVE, CHANGE, RENAME, REORDER, LIST_ADD, LIST_DEL = range(7)
CMD_CHAR = {ADD: "+", REMOVE: "-", CHANGE: "", RENAME: "@", REORDER: "^", LIST_ADD: "|", LIST_DEL: "~"}


class UciError(Exception):
    def __init__(self, code: int):
        super().__init__(ERRSTR.get(code, "Unknown error"))
        self.code = code


def _validate_str(text: str, name: bool, package: bool) -> bool:
    """util.c:71-90: names are [A-Za-z0-9_]; types and packages any printable ASCII (packages also '-')."""
    if not text:
        return False
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            continue
        if ch == "-" and package:
            continue
        if name or ord(ch) < 33 or ord(ch) > 126:
            return False
    return True


def valid_name(text: str) -> bool:
    return _validate_str(text, True, False)


def valid_type(text: str) -> bool:
    return _validate_str(text, False, False)


def valid_package(text: str) -> bool:
    return _validate_str(text, False, True)


def djbhash(hash_: int, text: str) -> int:
    """list.c:128-141 (32-bit unsigned arithmetic, masked to 31 bits at the end)."""
    if hash_ == 0xFFFFFFFF:
        hash_ = 5381
    for ch in text.encode():
        hash_ = ((hash_ << 5) + hash_ + ch) & 0xFFFFFFFF
    return hash_ & 0x7FFFFFFF


class Section:
    def __init__(self, package: Package, type_: str, name: str | None):
        self.package = package
        self.type = type_
        self.name = name
        self.anonymous = name is None
        self.options: dict[str, Any] = {}  # name -> str | list[str], in order


class Package:
    def __init__(self, name: str):
        self.name = name
        self.sections: list[Section] = []
        self.n_section = 0
        self.delta: list[tuple] = []
        self.saved_delta: list[tuple] = []
        self.has_delta = True
        self.path: str | None = None

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def alloc_section(self, type_: str, name: str | None, after: Section | None = None) -> Section:
        """list.c:197-216."""
        s = Section(self, type_, name or None)
        self.n_section += 1
        if after is None:
            self.sections.append(s)
        else:
            self.sections.insert(self.sections.index(after) + 1, s)
        return s

    def fixup(self, s: Section) -> None:
        """list.c:143-176: only called right after creation, so the hash covers the type (and no options)."""
        h = djbhash(0xFFFFFFFF, s.type)
        for key, value in s.options.items():
            h = djbhash(h, key)
            if isinstance(value, str):
                h = djbhash(h, value)
        s.name = f"cfg{self.n_section:02x}{h % (1 << 16):04x}"


class Ptr:
    def __init__(self) -> None:
        self.package: str | None = None
        self.section: str | None = None
        self.option: str | None = None
        self.value: str | None = None
        self.extended = False
        self.done = False
        self.complete = False
        self.p: Package | None = None
        self.s: Section | None = None
        self.o: str | None = None  # the option's name when it exists


def parse_ptr(text: str) -> Ptr:
    """util.c:109-160 (``uci_parse_ptr``)."""
    ptr = Ptr()
    head, eq, value = text.partition("=")
    if eq:
        ptr.value = value
    parts = head.split(".")
    if len(parts) > 3:
        raise UciError(PARSE)
    ptr.package = parts[0]
    if len(parts) > 1:
        ptr.section = parts[1]
    if len(parts) > 2:
        ptr.option = parts[2]
    if ptr.package is not None and not valid_package(ptr.package):
        raise UciError(PARSE)
    if ptr.section is not None and not valid_name(ptr.section):
        ptr.extended = True
    if ptr.option is not None and not valid_name(ptr.option):
        raise UciError(PARSE)
    if ptr.value is not None and any(ord(c) < 32 and c not in "\t\n\r" for c in ptr.value):
        raise UciError(PARSE)
    return ptr


class Tokenizer:
    """file.c:83-272: one logical line → arguments (single/double quotes, backslashes, ``#`` comments, ``;``)."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.i = 0

    def words(self, line: str) -> list[str | None]:
        """Arguments of one line; None marks a ``;`` command separator."""
        out: list[str | None] = []
        pos, n = 0, len(line)
        while True:
            while pos < n and line[pos].isspace():
                pos += 1
            if pos >= n:
                return out
            if line[pos] == ";":
                out.append(None)
                pos += 1
                continue
            cur = []
            while pos < n and not line[pos].isspace():
                ch = line[pos]
                if ch == "'":
                    end = line.find("'", pos + 1)
                    while end < 0:  # multi-line value
                        if self.i >= len(self.lines):
                            raise UciError(PARSE)
                        line += self.lines[self.i]
                        self.i += 1
                        n = len(line)
                        end = line.find("'", pos + 1)
                    cur.append(line[pos + 1 : end])
                    pos = end + 1
                elif ch == '"':
                    pos += 1
                    while True:
                        if pos >= n:
                            if self.i >= len(self.lines):
                                raise UciError(PARSE)
                            line += self.lines[self.i]
                            self.i += 1
                            n = len(line)
                            continue
                        c = line[pos]
                        if c == '"':
                            pos += 1
                            break
                        if c == "\\" and pos + 1 < n and line[pos + 1] != "\n":
                            pos += 1
                            c = line[pos]
                        cur.append(c)
                        pos += 1
                elif ch == "#":
                    if cur:
                        out.append("".join(cur))
                    return out
                elif ch == ";":
                    break
                elif ch == "\\" and pos + 1 < n and line[pos + 1] != "\n":
                    cur.append(line[pos + 1])
                    pos += 2
                else:
                    cur.append(ch)
                    pos += 1
            out.append("".join(cur))


class Context:
    """A ``uci_context``: confdir, savedir, delta path (libuci.c:47-67)."""

    def __init__(self, root: str):
        self.root = root
        self.confdir = "/etc/config"
        self.savedir = "/tmp/.uci"
        self.delta_path = ["/tmp/.uci"]

    # -- paths inside the fake root --------------------------------------------------------------------------
    def real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def set_savedir(self, path: str) -> None:
        """delta.c:99-123: the directory moves to the end of the delta path and becomes the save directory."""
        if path in self.delta_path:
            self.delta_path.remove(path)
        self.delta_path.append(path)
        self.savedir = path

    # -- load / parse ------------------------------------------------------------------------------------------
    def load(self, name: str) -> Package:
        """file.c:909-965 + delta.c:319-352."""
        path = self.real(f"{self.confdir}/{name}")
        if not os.path.isfile(path):
            raise UciError(NOTFOUND)
        with open(path) as fh:
            p = self.import_text(fh.read(), name)
        p.path = path
        self.load_delta(p, flush=False)
        return p

    def import_text(self, text: str, name: str) -> Package:
        p = Package(name)
        lines = text.splitlines(keepends=True)
        tok = Tokenizer(lines)
        current: Section | None = None
        while tok.i < len(lines):
            line = lines[tok.i]
            tok.i += 1
            words = tok.words(line)
            cmds: list[list[str]] = [[]]
            for w in words:
                if w is None:
                    cmds.append([])
                else:
                    cmds[-1].append(w)
            for cmd in cmds:
                if not cmd:
                    continue
                kw = cmd[0]
                if kw in ("package", "p"):
                    continue
                if kw in ("config", "c"):
                    if len(cmd) < 2 or not valid_type(cmd[1]):
                        raise UciError(PARSE)
                    sname = cmd[2] if len(cmd) > 2 else ""
                    if not sname:
                        current = p.alloc_section(cmd[1], None)
                        p.fixup(current)
                    else:
                        if not valid_name(sname):
                            raise UciError(PARSE)
                        current = p.section(sname)
                        if current is not None and current.type != cmd[1]:
                            raise UciError(PARSE)  # file.c:446-447 (strict mode)
                        if current is None:
                            current = p.alloc_section(cmd[1], sname)
                elif kw in ("option", "o", "list", "l"):
                    if current is None or len(cmd) < 2 or not valid_name(cmd[1]):
                        raise UciError(PARSE)
                    value = cmd[2] if len(cmd) > 2 else ""
                    if kw in ("list", "l"):
                        _add_list(current, cmd[1], value)
                    elif value:
                        _set_option(current, cmd[1], value)
                    elif cmd[1] in current.options:
                        del current.options[cmd[1]]
                else:
                    raise UciError(PARSE)
        return p

    def delta_files(self) -> list[str]:
        return list(self.delta_path)

    def load_delta(self, p: Package, flush: bool) -> int:
        """Replay every delta file on the delta path; ``flush`` truncates the save directory's file."""
        changes = 0
        for d in self.delta_path:
            path = self.real(f"{d}/{p.name}")
            if not os.path.isfile(path):
                continue
            with open(path) as fh:
                for line in fh.read().splitlines():
                    if not line:
                        continue
                    try:
                        cmd, ptr = parse_delta_tuple(line)
                        if ptr.package != p.name:
                            raise UciError(PARSE)
                        p.saved_delta.append((cmd, ptr.section, ptr.option, ptr.value))
                        apply_delta(p, cmd, ptr)
                        changes += 1
                    except UciError:
                        continue  # delta.c:262-286: a bad line is skipped, the rest kept
        if flush and changes > 0:
            path = self.real(f"{self.savedir}/{p.name}")
            if os.path.isfile(path):
                open(path, "w").close()
        return changes

    # -- lookup ------------------------------------------------------------------------------------------------
    def lookup(self, ptr: Ptr, extended: bool = True) -> Ptr:
        """list.c:386-455 (``uci_lookup_ptr``): COMPLETE only when every named part exists."""
        ptr.done = True
        if ptr.p is None:
            ptr.p = self.load(ptr.package)
        if ptr.section is None and ptr.s is None:
            ptr.complete = True
            return ptr
        if ptr.s is None:
            if ptr.extended:
                if not extended:
                    raise UciError(INVAL)
                ptr.s = lookup_ext_section(ptr)
            else:
                ptr.s = ptr.p.section(ptr.section)
        if ptr.s is None:
            return ptr
        if ptr.option is not None:
            if ptr.option not in ptr.s.options:
                return ptr
            ptr.o = ptr.option
        ptr.complete = True
        return ptr

    # -- save / commit / revert ----------------------------------------------------------------------------
    def save(self, p: Package) -> None:
        """delta.c:464-519: append this command's changes to the save directory's file."""
        if not p.delta:
            return
        d = self.real(self.savedir)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, p.name), "a") as fh:
            for h in p.delta:
                fh.write(delta_line(p.name, *h))
        p.delta = []

    def commit(self, p: Package) -> Package:
        """file.c:736-840."""
        self.save(p)
        assert p.path is not None
        with open(p.path) as fh:
            fresh = self.import_text(fh.read(), p.name)
        fresh.path = p.path
        if not self.load_delta(fresh, flush=True):
            return fresh
        with open(p.path, "w") as fh:
            fh.write(export(fresh, header=False))
        return fresh

    def revert(self, ptr: Ptr) -> None:
        """delta.c:355-462 (``uci_filter_delta`` + reload)."""
        assert ptr.p is not None
        self.save(ptr.p)
        path = self.real(f"{self.savedir}/{ptr.p.name}")
        kept = []
        if os.path.isfile(path):
            with open(path) as fh:
                for line in fh.read().splitlines():
                    if not line:
                        continue
                    cmd, d = parse_delta_tuple(line)
                    match = True
                    if ptr.section is not None and d.section != ptr.section:
                        match = False
                    if match and ptr.option is not None and d.option != ptr.option:
                        match = False
                    if not match and d.section:
                        kept.append(delta_line(ptr.p.name, cmd, d.section, d.option, d.value))
            with open(path, "w") as fh:
                fh.write("".join(kept))

    def list_configs(self) -> list[str]:
        d = self.real(self.confdir)
        if not os.path.isdir(d):
            raise UciError(NOTFOUND)
        return sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)) and valid_package(n))


def lookup_ext_section(ptr: Ptr) -> Section | None:
    """list.c:298-384: ``@type[n]``, negative n counts from the end; anything else is INVAL."""
    assert ptr.p is not None and ptr.section is not None
    sec = ptr.section
    if not sec.startswith("@") or "[" not in sec or not sec.endswith("]"):
        raise UciError(INVAL)
    type_, _, idx_text = sec[1:-1].partition("[")
    try:
        idx = int(idx_text)
    except ValueError:
        raise UciError(INVAL) from None
    if type_ and not valid_type(type_):
        raise UciError(INVAL)
    matching = [s for s in ptr.p.sections if not type_ or s.type == type_]
    if idx < 0:
        idx += len(matching)
    if 0 <= idx < len(matching):
        ptr.section = matching[idx].name
        return matching[idx]
    return None


def _set_option(s: Section, name: str, value: str) -> None:
    """A new or replaced plain option keeps its position (list.c:708-727)."""
    s.options[name] = value


def _add_list(s: Section, name: str, value: str) -> None:
    old = s.options.get(name)
    if old is None:
        s.options[name] = [value]
    elif isinstance(old, str):
        s.options[name] = [old, value]
    else:
        old.append(value)


def delta_line(pkg: str, cmd: int, section: str, option: str | None, value: str | None) -> str:
    """delta.c:69-97: ``<prefix>pkg.section[.option][='value']``, quotes escaped as ``'\\''``."""
    out = f"{CMD_CHAR[cmd]}{pkg}.{section}"
    if option is not None:
        out += "." + option
    if cmd == REMOVE and value is None:
        return out + "\n"
    return out + "='" + (value or "").replace("'", "'\\''") + "'\n"


def parse_delta_tuple(line: str) -> tuple[int, Ptr]:
    """delta.c:159-212."""
    words = Tokenizer([]).words(line)
    if len(words) != 1 or words[0] is None:
        raise UciError(INVAL)
    arg = words[0]
    cmd = next((c for c, ch in CMD_CHAR.items() if ch and arg.startswith(ch)), CHANGE)
    if cmd != CHANGE:
        arg = arg[1:]
    ptr = parse_ptr(arg)
    if ptr.section is None or ptr.extended:
        raise UciError(INVAL)
    if cmd != REMOVE and ptr.value is None:
        raise UciError(INVAL)
    if cmd == REORDER and ptr.option is not None:
        raise UciError(INVAL)
    if cmd == RENAME and not valid_name(ptr.value or ""):
        raise UciError(INVAL)
    if cmd in (LIST_ADD, LIST_DEL) and ptr.option is None:
        raise UciError(INVAL)
    return cmd, ptr


def apply_delta(p: Package, cmd: int, ptr: Ptr) -> None:
    """delta.c:214-259: replay one change without recording it."""
    ptr.p = p
    ctx = _Internal()
    if cmd == REORDER:
        s = p.section(ptr.section or "")
        if s is None:
            raise UciError(NOTFOUND)
        reorder(p, s, int(ptr.value or "0"), record=False)
    elif cmd == RENAME:
        rename(ctx, ptr, record=False)
    elif cmd == REMOVE:
        delete(ctx, ptr, record=False)
    elif cmd == LIST_ADD:
        add_list(ctx, ptr, record=False)
    elif cmd == LIST_DEL:
        del_list(ctx, ptr, record=False)
    elif cmd == ADD:
        set_(ctx, ptr, record=False)
        if ptr.option is None and ptr.s is not None:
            ptr.s.anonymous = True
    else:
        set_(ctx, ptr, record=False)


class _Internal(Context):
    """Lookups during delta replay need no file access: the package is already in the pointer."""

    def __init__(self) -> None:  # no root
        pass


def _expand(ctx: Context, ptr: Ptr, complete: bool) -> None:
    """list.c:457-484 (``uci_expand_ptr``)."""
    if not ptr.done:
        ctx.lookup(ptr, True)
    if complete and not ptr.complete:
        raise UciError(NOTFOUND)


def _record(ptr: Ptr, cmd: int, value: str | None, record: bool) -> None:
    assert ptr.p is not None
    if record and ptr.p.has_delta:
        ptr.p.delta.append((cmd, ptr.section, ptr.option, value))


def set_(ctx: Context, ptr: Ptr, record: bool = True) -> None:
    """list.c:681-750 (``uci_set``)."""
    _expand(ctx, ptr, False)
    if ptr.value is None:
        raise UciError(INVAL)
    if not (ptr.s is not None or (ptr.option is None and ptr.section is not None)):
        raise UciError(INVAL)
    if ptr.option is None and ptr.value and not valid_type(ptr.value):
        raise UciError(INVAL)
    assert ptr.p is not None
    if ptr.o is None and ptr.s is not None and ptr.option is not None and ptr.option in ptr.s.options:
        ptr.o = ptr.option
    if not ptr.value:
        if not ptr.complete:
            return
        delete(ctx, ptr, record)
        return
    if ptr.o is None and ptr.option is not None:
        assert ptr.s is not None
        ptr.s.options[ptr.option] = ptr.value
    elif ptr.s is None and ptr.section is not None:
        ptr.s = ptr.p.alloc_section(ptr.value, ptr.section)
    elif ptr.o is not None and ptr.option is not None:
        assert ptr.s is not None
        if ptr.s.options[ptr.o] == ptr.value:
            return
        ptr.s.options[ptr.o] = ptr.value
    elif ptr.s is not None and ptr.section is not None:
        if ptr.s.type == ptr.value:
            return
        ptr.s.type = ptr.value  # list.c:733-745: re-allocated in place, the section counter unchanged
    else:
        raise UciError(INVAL)
    _record(ptr, CHANGE, ptr.value, record)


def delete(ctx: Context, ptr: Ptr, record: bool = True) -> None:
    """list.c:550-593 (``uci_delete``); ``value`` as a list index is not modelled beyond the CLI check."""
    _expand(ctx, ptr, True)
    assert ptr.s is not None and ptr.p is not None
    if ptr.o is not None and isinstance(ptr.s.options[ptr.o], list) and ptr.value:
        idx = int(ptr.value)
        items = ptr.s.options[ptr.o]
        if 0 <= idx < len(items):
            _record(ptr, REMOVE, ptr.value, record)
            del items[idx]
        return
    _record(ptr, REMOVE, None, record)
    if ptr.o is not None:
        del ptr.s.options[ptr.o]
        ptr.o = None
    elif ptr.section is not None:
        ptr.p.sections.remove(ptr.s)
        ptr.s = None


def add_list(ctx: Context, ptr: Ptr, record: bool = True) -> None:
    """list.c:595-647."""
    _expand(ctx, ptr, False)
    if ptr.s is None or ptr.value is None:
        raise UciError(INVAL)
    assert ptr.option is not None
    _add_list(ptr.s, ptr.option, ptr.value)
    ptr.o = ptr.option
    _record(ptr, LIST_ADD, ptr.value, record)


def del_list(ctx: Context, ptr: Ptr, record: bool = True) -> None:
    """list.c:649-679: recorded even when the value is absent; a plain option is left alone."""
    _expand(ctx, ptr, False)
    if ptr.s is None or ptr.value is None:
        raise UciError(INVAL)
    if ptr.o is None or ptr.option is None:
        return
    items = ptr.s.options[ptr.o]
    if not isinstance(items, list):
        return
    _record(ptr, LIST_DEL, ptr.value, record)
    ptr.s.options[ptr.o] = [v for v in items if v != ptr.value]


def rename(ctx: Context, ptr: Ptr, record: bool = True) -> None:
    """list.c:486-513: a renamed section is no longer anonymous."""
    _expand(ctx, ptr, True)
    if ptr.s is None or ptr.value is None:
        raise UciError(INVAL)
    _record(ptr, RENAME, ptr.value, record)
    if ptr.o is not None:
        opts = ptr.s.options
        ptr.s.options = dict((ptr.value if k == ptr.o else k, v) for k, v in opts.items())
    else:
        ptr.s.name = ptr.value
        ptr.s.anonymous = False


def reorder(p: Package, s: Section, pos: int, record: bool = True) -> None:
    """list.c:15-31, 515-531: only a real move is recorded."""
    old = p.sections.index(s)
    p.sections.remove(s)
    p.sections.insert(min(pos, len(p.sections)), s)
    if record and p.has_delta and p.sections.index(s) != old:
        p.delta.append((REORDER, s.name, None, str(pos)))


def export(p: Package, header: bool) -> str:
    """file.c:610-643."""

    def esc(text: str) -> str:
        return text.replace("'", "'\\''")

    out = io.StringIO()
    if header:
        out.write(f"package {esc(p.name)}\n")
    for s in p.sections:
        out.write(f"\nconfig {esc(s.type)}")
        if not s.anonymous:
            out.write(" '{}'".format(esc(s.name or "")))
        out.write("\n")
        for key, value in s.options.items():
            if isinstance(value, list):
                for item in value:
                    out.write(f"\tlist {esc(key)} '{esc(item)}'\n")
            else:
                out.write(f"\toption {esc(key)} '{esc(value)}'\n")
    out.write("\n")
    return out.getvalue()


# -- the CLI (cli.c) ----------------------------------------------------------------------------------------------


class Cli:
    def __init__(self, root: str, stdin: str = ""):
        self.ctx = Context(root)
        self.stdin = stdin
        self.quiet = False
        self.show_ext = True
        self.nocommit = False
        self.batch = False
        self.delimiter = " "
        self.out = io.StringIO()
        self.err = io.StringIO()

    def perror(self, code: int) -> None:
        if not self.quiet:
            self.err.write("uci: {}\n".format(ERRSTR.get(code, "Unknown error")))

    @staticmethod
    def quote(value: str) -> str:
        return "'" + value.replace("'", "'\\''") + "'"

    def show_value(self, value: Any, quote: bool) -> str:
        """cli.c:215-251."""
        if isinstance(value, str):
            return (self.quote(value) if quote else value) + "\n"
        parts = []
        for item in value:
            parts.append(self.quote(item) if (quote or any(c in item for c in " \t\r\n")) else item)
        return self.delimiter.join(parts) + "\n"

    def show_section(self, s: Section, ref: str | None) -> None:
        name = ref or s.name
        self.out.write(f"{s.package.name}.{name}={s.type}\n")
        for key, value in s.options.items():
            self.out.write(f"{s.package.name}.{name}.{key}={self.show_value(value, True)}")

    def show_package(self, p: Package) -> None:
        """cli.c:87-137, 270-281: ``@type[n]`` for unnamed sections (n counts every section of that type)."""
        seen: dict[str, int] = {}
        for s in p.sections:
            idx = seen.get(s.type, 0)
            seen[s.type] = idx + 1
            ref = f"@{s.type}[{idx}]" if (self.show_ext and s.anonymous) else None
            self.show_section(s, ref)

    def show_changes(self, p: Package) -> None:
        """cli.c:283-314."""
        for cmd, section, option, value in p.saved_delta:
            prefix = "-" if cmd == REMOVE else ""
            op = {LIST_ADD: "+=", LIST_DEL: "-="}.get(cmd, "=")
            line = f"{prefix}{p.name}.{section}"
            if option is not None:
                line += "." + option
            if cmd != REMOVE:
                line += op + self.quote(value or "")
            self.out.write(line + "\n")

    def package_cmd(self, cmd: str, tuple_: str) -> int:
        """cli.c:316-372."""
        try:
            ptr = self.ctx.lookup(parse_ptr(tuple_), True)
        except UciError as exc:
            self.perror(exc.code)
            return 1
        assert ptr.p is not None
        if cmd == "changes":
            self.show_changes(ptr.p)
        elif cmd == "commit":
            if self.nocommit:
                return 0
            try:
                self.ctx.commit(ptr.p)
            except UciError as exc:
                self.perror(exc.code)
                return 1
        elif cmd == "export":
            self.out.write(export(ptr.p, header=True))
        elif cmd == "show":
            if not ptr.complete:
                self.perror(NOTFOUND)
                return 1
            if ptr.o is not None:
                assert ptr.s is not None
                self.out.write(f"{ptr.p.name}.{ptr.s.name}.{ptr.o}={self.show_value(ptr.s.options[ptr.o], True)}")
            elif ptr.s is not None:
                self.show_section(ptr.s, None)
            else:
                self.show_package(ptr.p)
        return 0

    def do_package_cmd(self, cmd: str, args: list[str]) -> int:
        if len(args) > 1:
            return 255
        if args:
            return self.package_cmd(cmd, args[0])
        try:
            configs = self.ctx.list_configs()
        except UciError as exc:
            self.perror(exc.code)
            return 1
        for name in configs:
            self.package_cmd(cmd, name)
        return 0

    def do_add(self, args: list[str]) -> int:
        """cli.c:441-467."""
        if len(args) != 2:
            return 255
        try:
            p = self.ctx.load(args[0])
            if not valid_type(args[1]):
                raise UciError(INVAL)
            s = p.alloc_section(args[1], None)
            p.fixup(s)
            p.delta.append((ADD, s.name, None, args[1]))
            self.ctx.save(p)
        except UciError as exc:
            self.perror(exc.code)
            return exc.code
        self.out.write(f"{s.name}\n")
        return 0

    def do_section_cmd(self, cmd: str, args: list[str]) -> int:
        """cli.c:469-551."""
        if len(args) != 1:
            return 255
        try:
            ptr = self.ctx.lookup(parse_ptr(args[0]), True)
        except UciError as exc:
            self.perror(exc.code)
            return 1
        if ptr.value is not None and cmd not in ("set", "delete", "add_list", "del_list", "rename", "reorder"):
            return 1
        assert ptr.p is not None
        try:
            if cmd == "get":
                if not ptr.complete:
                    self.perror(NOTFOUND)
                    return 1
                if ptr.o is not None:
                    assert ptr.s is not None
                    self.out.write(self.show_value(ptr.s.options[ptr.o], False))
                elif ptr.s is not None:
                    self.out.write(ptr.s.type + "\n")
                return 0
            if cmd == "rename":
                rename(self.ctx, ptr)
            elif cmd == "revert":
                self.ctx.revert(ptr)
                return 0
            elif cmd == "set":
                set_(self.ctx, ptr)
            elif cmd == "add_list":
                add_list(self.ctx, ptr)
            elif cmd == "del_list":
                del_list(self.ctx, ptr)
            elif cmd == "reorder":
                if ptr.s is None or ptr.value is None:
                    self.perror(NOTFOUND)
                    return 1
                digits = ""
                for ch in ptr.value:
                    if not ch.isdigit():
                        break
                    digits += ch
                reorder(ptr.p, ptr.s, int(digits or "0"))
            elif cmd == "delete":
                if ptr.value is not None and not ptr.value.lstrip("-").isdigit():
                    return 1
                delete(self.ctx, ptr)
            self.ctx.save(ptr.p)
        except UciError as exc:
            self.perror(exc.code)
            return 1
        return 0

    def do_batch(self) -> int:
        """cli.c:553-610: one command per line (quotes as in config files), packages reloaded for each."""
        self.batch = True
        tok = Tokenizer(self.stdin.splitlines(keepends=True))
        while tok.i < len(tok.lines):
            line = tok.lines[tok.i]
            tok.i += 1
            try:
                words = [w for w in tok.words(line) if w is not None]
            except UciError as exc:
                self.perror(exc.code)
                continue
            if not words:
                continue
            if words[0].lower() == "exit":
                return 0
            ret = self.cmd(words)
            if ret == 255 and not self.quiet:
                self.err.write("Unknown command\n")
        self.batch = False
        return 0

    def cmd(self, argv: list[str]) -> int:
        """cli.c:612-678."""
        name = argv[0].lower()
        if os.environ.get("FAKE_UCI_FAIL") == name:
            self.err.write("uci: I/O error\n")
            return 1
        if name == "batch" and not self.batch:
            return self.do_batch()
        if name in ("show", "changes", "export", "commit"):
            return self.do_package_cmd(name, argv[1:])
        aliases = {"ren": "rename", "del": "delete"}
        name = aliases.get(name, name)
        if name in ("get", "set", "delete", "rename", "revert", "reorder", "add_list", "del_list"):
            return self.do_section_cmd(name, argv[1:])
        if name == "add":
            return self.do_add(argv[1:])
        return 255

    def main(self, argv: list[str]) -> int:
        """cli.c:680-775 (getopt ``c:C:d:f:LmnNp:P:qsSt:X``)."""
        args = list(argv)
        while args and args[0].startswith("-") and len(args[0]) > 1:
            flag = args.pop(0)[1:]
            while flag:
                c, flag = flag[0], flag[1:]
                if c in "cCdfpPt":
                    value = flag or (args.pop(0) if args else "")
                    flag = ""
                    if c == "c":
                        self.ctx.confdir = value
                    elif c == "d":
                        self.delimiter = value
                    elif c == "p":
                        if value in self.ctx.delta_path:
                            self.perror(DUPLICATE)
                            return 1
                        self.ctx.delta_path.insert(len(self.ctx.delta_path) - 1, value)
                    elif c == "P":
                        self.ctx.set_savedir(value)
                        self.nocommit = True
                    elif c == "t":
                        self.ctx.set_savedir(value)
                elif c == "q":
                    self.quiet = True
                elif c == "X":
                    self.show_ext = False
        if not args:
            return 0
        ret = self.cmd(args)
        if ret == 255:
            self.err.write("usage\n")
        return ret


def run(root: str, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """Run ``uci ARGV`` against the fake root: ``(rc, stdout, stderr)``."""
    cli = Cli(root, stdin)
    rc = cli.main(argv)
    return rc, cli.out.getvalue(), cli.err.getvalue()


def main(argv: list[str]) -> int:
    stdin = sys.stdin.read() if argv and argv[-1] == "batch" else ""
    rc, out, err = run(os.environ["FAKE_UCI_ROOT"], argv, stdin)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


class Runner:
    """For tests that drive a backend against this fake: ``module.run_command``'s shape, with the fake's root in the
    environment; ``commands`` records every call. This file itself runs in-process (the same ``main`` as the
    subprocess would, without a Python start per ``uci`` call); anything else runs as a subprocess."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.commands: list[list[str]] = []

    def __call__(self, args: list[str], data: str | None = None) -> tuple[int, str, str]:
        self.commands.append(list(args))
        if args and os.path.abspath(args[0]) == os.path.abspath(__file__) and "FAKE_UCI_FAIL" not in self.env:
            return run(self.env["FAKE_UCI_ROOT"], list(args[1:]), data or "")
        proc = subprocess.run(
            args, capture_output=True, text=True, env=dict(os.environ, **self.env), timeout=10, input=data
        )
        return proc.returncode, proc.stdout, proc.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
