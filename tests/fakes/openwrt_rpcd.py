"""FAKE OpenWrt ``/ubus`` endpoint: uhttpd-mod-ubus's JSON-RPC in front of rpcd's ``session``, ``uci``, ``file`` and
``rc`` objects and odhcpd's ``dhcp ipv4leases``, over a directory standing in for the router's ``/``.

Modelled from the sources (file:line):

* uhttpd f682cca ``ubus.c``: POST to ``/ubus`` is the "legacy" JSON-RPC shape (908-911): ``{"jsonrpc": "2.0",
  "id": ..., "result": [status, {data}]}`` with the data table only when the call replied (475-491); request errors
  are ``{"error": {"code", "message"}}`` with HTTP 200 (217-229, 96-105): -32700 "Parse error" for anything that is
  not a ``call`` with session id, object, function and argument table (770-816), -32000 "Object not found",
  -32002 "Access denied" when the session may not call ``object.function`` (uh_ubus_allowed, 280-297, asks rpcd's
  ``session access`` in scope ``ubus``: an unknown or expired session is denied the same way), -32601 "Method not
  found" for other JSON-RPC methods, -32602 when the arguments smuggle ``ubus_rpc_session`` (572-575).
* rpcd 4476687 ``session.c``: ``login`` checks ``config login`` sections of ``/etc/config/rpcd`` (username, and the
  password: ``$p$<user>`` means that system user's password; 852-921), wrong credentials → status 6
  PERMISSION_DENIED (1174-1180), and grants the ACL groups listed in the login's ``read``/``write`` lists (fnmatch,
  ``!`` denies, write implies read: 923-976) from ``/usr/share/rpcd/acl.d/*.json`` (1038-1121), in table notation
  (``"ubus": {"uci": ["get"]}``) or array notation (``"uci": ["dhcp"]`` → function = the permission), 981-1036.
  The reply holds ``ubus_rpc_session``, ``timeout`` (default 300 s, session.h:34), ``expires``, ``acls``, ``data``
  (session.c:221-245). Matching is fnmatch of the granted object/function patterns (session.c:140-150, 594-609).
* rpcd ``uci.c``: every call of a session uses ``/var/run/rpcd/uci-<sid>`` as the only delta directory (265-303,
  uci.h:33-34), so it never sees nor commits changes made by ``uci`` on the shell or another session; access is
  scope ``uci`` object = config, function ``read``/``write`` (306-337) else status 6; ``get`` dumps sections with
  ``.anonymous``, ``.type``, ``.name``, ``.index`` and lists as arrays (500-595), a missing section/option replies
  nothing with status 0 (628-661), a missing config is status 4 NOT_FOUND (241-257); ``set`` replaces a list by an
  array value and writes only changed values (810-879); ``delete`` with ``option``/``options`` (980-1077);
  ``changes`` ``{"changes": [["set", section, option, value], ...]}`` (1188-1256); ``commit``/``revert`` (1318-1362),
  commit sends the ``config.change`` event (recorded in ``events``); both are refused with status 6 while a LuCI
  "apply with rollback" is pending (1330, test hook ``pending_apply``); a session's delta directory goes away with
  the session (1730-1740). The ACL file format is LuCI's own (openwrt/luci
  ``modules/luci-base/root/usr/share/rpcd/acl.d/luci-base.json``: ``"file": {"/etc/init.d/firewall restart":
  ["exec"]}``, ``"uci": ["*"]``).
* rpcd ``file.c``: ``read`` needs scope ``file`` object = the path, function ``read`` (179-186, 260-275); a missing
  file is status 4, one of 256 KiB or more status 8 NOT_SUPPORTED (46, 318-319); reply ``{"data": text}``.
  ``exec`` needs ``exec`` on the command or on ``"command arg ..."`` (918-958) and replies ``{"code", "stdout",
  "stderr"}`` (790-802).
* rpcd ``rc.c``: ``init`` runs ``/etc/init.d/<name> <action>`` and answers status 0 when it has finished, whatever
  its exit code (301-306, 310-389).
* odhcpd 68f3826 ``src/ubus.c``: ``dhcp ipv4leases`` → ``{"device": {ifname: {"leases": [{"mac", "hostname",
  "flags", "address", "valid"}]}}}`` (22-88).

Test hooks (not OpenWrt): ``passwords`` (user → password, standing in for ``/etc/shadow``), ``expire(sid)``,
``exec_results`` (command line → (code, stdout, stderr) every time, or a list used up one per run; default
success), ``odhcpd_leases``, ``calls`` log.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import secrets
from pathlib import Path
from typing import Any

from tests.fakes import uci
from tests.fakes.http import FakeServer

NULL_SID = "0" * 32
UBUS_OK, UBUS_INVALID_ARGUMENT, UBUS_NOT_FOUND, UBUS_PERMISSION_DENIED, UBUS_NOT_SUPPORTED = 0, 2, 4, 6, 8
RPC_FILE_MAX_SIZE = 4096 * 64
JSONRPC_ERRORS = {
    "parse": (-32700, "Parse error"),
    "method": (-32601, "Method not found"),
    "params": (-32602, "Invalid parameters"),
    "object": (-32000, "Object not found"),
    "access": (-32002, "Access denied"),
}
OBJECTS = {
    "session": {"login", "access"},
    "uci": {"get", "set", "delete", "changes", "commit", "revert"},
    "file": {"read", "exec"},
    "rc": {"init"},
    "dhcp": {"ipv4leases"},
}
UNAUTHENTICATED_ACL = {"unauthenticated": {"read": {"ubus": {"session": ["access", "login"]}}}}  # rpcd's own file


class FakeRpcd(FakeServer):
    def __init__(self, root: Path, passwords: dict[str, str] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.passwords = dict(passwords or {})
        self.sessions: dict[str, dict[str, Any]] = {NULL_SID: {"acls": self._acls(None), "username": None}}
        self.exec_results: dict[str, Any] = {}
        self.odhcpd_leases: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.events: list[dict[str, Any]] = []
        self.executed: list[str] = []
        self.pending_apply = False

    # -- FakeServer hooks --------------------------------------------------------------------------------------
    def authorized(self, headers: dict[str, str]) -> bool:
        return True

    def unauthorized(self) -> tuple[int, Any]:  # pragma: no cover - never called
        return 401, None

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method != "POST" or path.rstrip("/") != "/ubus":
            return 404, None
        req_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str):
            return 200, self._error(req_id, "parse")
        if body["method"] != "call":
            return 200, self._error(req_id, "method")
        params = body.get("params")
        if not (
            isinstance(params, list)
            and len(params) == 4
            and all(isinstance(p, str) for p in params[:3])
            and isinstance(params[3], dict)
            and params[0]
        ):
            return 200, self._error(req_id, "parse")
        sid, obj, func, args = params
        if obj not in OBJECTS:
            return 200, self._error(req_id, "object")
        if not self.access(sid, "ubus", obj, func):
            return 200, self._error(req_id, "access")
        if "ubus_rpc_session" in args:
            return 200, self._error(req_id, "params")
        self.calls.append((obj, func, {k: ("********" if k == "password" else v) for k, v in args.items()}))
        if func not in OBJECTS[obj]:
            return 200, {"jsonrpc": "2.0", "id": req_id, "result": [3]}  # UBUS_STATUS_METHOD_NOT_FOUND
        status, data = getattr(self, f"_{obj}_{func}")(sid, args)
        result: list[Any] = [status]
        if data is not None:
            result.append(data)
        return 200, {"jsonrpc": "2.0", "id": req_id, "result": result}

    @staticmethod
    def _error(req_id: Any, kind: str) -> dict[str, Any]:
        code, message = JSONRPC_ERRORS[kind]
        return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}

    # -- sessions and ACLs -------------------------------------------------------------------------------------
    def expire(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        savedir = self.root / (f"var/run/rpcd/uci-{sid}")
        if savedir.is_dir():
            for f in savedir.iterdir():
                f.unlink()
            savedir.rmdir()

    def access(self, sid: str, scope: str, obj: str, func: str) -> bool:
        ses = self.sessions.get(sid)
        if ses is None:
            return False
        return any(fnmatch.fnmatchcase(obj, o) and fnmatch.fnmatchcase(func, f) for o, f in ses["acls"].get(scope, []))

    def _login_section(self, username: str, password: str) -> dict[str, Any] | None:
        try:
            p = uci.Context(str(self.root)).load("rpcd")
        except uci.UciError:
            return None
        for s in p.sections:
            if s.type != "login" or s.options.get("username") != username:
                continue
            stored = s.options.get("password")
            if not isinstance(stored, str):
                continue
            # rpcd compares crypt(3) hashes; the fake keeps plain text
            ok = self.passwords.get(stored[3:]) == password if stored.startswith("$p$") else stored == password
            if ok:
                return s.options
        return None

    @staticmethod
    def _permitted(login: dict[str, Any] | None, perm: str, group: str) -> bool:
        if login is None:
            return group == "unauthenticated"
        items = login.get(perm)
        items = items if isinstance(items, list) else []
        for item in items:
            if item.startswith("!") and item[1:].strip() and fnmatch.fnmatchcase(group, item[1:].strip()):
                return False
        if any(item and not item.startswith("!") and fnmatch.fnmatchcase(group, item) for item in items):
            return True
        return perm == "read" and FakeRpcd._permitted(login, "write", group)

    def _acls(self, login: dict[str, Any] | None) -> dict[str, list[tuple[str, str]]]:
        files = [UNAUTHENTICATED_ACL]
        for path in sorted(glob.glob(str(self.root / "usr/share/rpcd/acl.d/*.json"))):
            with open(path) as fh:
                files.append(json.load(fh))
        acls: dict[str, list[tuple[str, str]]] = {}
        for doc in files:
            for group, perms in doc.items():
                if not isinstance(perms, dict):
                    continue
                for perm, scopes in perms.items():
                    if perm not in ("read", "write") or not isinstance(scopes, dict):
                        continue
                    if not self._permitted(login, perm, group):
                        continue
                    for scope, objects in scopes.items():
                        if isinstance(objects, dict):
                            for obj, funcs in objects.items():
                                if isinstance(funcs, list):
                                    acls.setdefault(scope, []).extend((obj, f) for f in funcs if isinstance(f, str))
                        elif isinstance(objects, list):
                            acls.setdefault(scope, []).extend((o, perm) for o in objects if isinstance(o, str))
                        acls.setdefault("access-group", []).append((group, perm))
        return acls

    def _session_login(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        if not isinstance(args.get("username"), str) or not isinstance(args.get("password"), str):
            return UBUS_INVALID_ARGUMENT, None
        login = self._login_section(args["username"], args["password"])
        if login is None:
            return UBUS_PERMISSION_DENIED, None
        new = secrets.token_hex(16)
        acls = self._acls(login)
        self.sessions[new] = {"acls": acls, "username": args["username"]}
        table: dict[str, dict[str, list[str]]] = {}
        for scope, pairs in acls.items():
            for obj, func in pairs:
                table.setdefault(scope, {}).setdefault(obj, []).append(func)
        return UBUS_OK, {
            "ubus_rpc_session": new,
            "timeout": 300,
            "expires": 300,
            "acls": table,
            "data": {"username": args["username"]},
        }

    def _session_access(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        return UBUS_OK, {
            "access": self.access(
                args.get("ubus_rpc_session", sid),
                args.get("scope", "ubus"),
                args.get("object", ""),
                args.get("function", ""),
            )
        }

    # -- uci -----------------------------------------------------------------------------------------------------
    def _ctx(self, sid: str) -> uci.Context:
        ctx = uci.Context(str(self.root))
        ctx.delta_path = []
        ctx.set_savedir(f"/var/run/rpcd/uci-{sid}")
        return ctx

    def _uci_get(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        config = args.get("config")
        if not isinstance(config, str):
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "uci", config, "read"):
            return UBUS_PERMISSION_DENIED, None
        try:
            p = self._ctx(sid).load(config)
        except uci.UciError as exc:
            return (UBUS_NOT_FOUND if exc.code == uci.NOTFOUND else UBUS_INVALID_ARGUMENT), None
        section = args.get("section")
        if section is None:
            values = {}
            for i, s in enumerate(p.sections):
                if args.get("type") and s.type != args["type"]:
                    continue
                values[s.name] = self._dump_section(s, i)
            return UBUS_OK, {"values": values}
        s = p.section(section) if not section.startswith("@") else None
        if section.startswith("@"):
            ptr = uci.Ptr()
            ptr.p, ptr.section = p, section
            try:
                s = uci.lookup_ext_section(ptr)
            except uci.UciError:
                return UBUS_INVALID_ARGUMENT, None
        if s is None:
            return UBUS_OK, None
        option = args.get("option")
        if option is None:
            return UBUS_OK, {"values": self._dump_section(s, -1)}
        if option not in s.options:
            return UBUS_OK, None
        value = s.options[option]
        return UBUS_OK, {"value": list(value) if isinstance(value, list) else value}

    @staticmethod
    def _dump_section(s: uci.Section, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {".anonymous": s.anonymous, ".type": s.type, ".name": s.name}
        if index >= 0:
            out[".index"] = index
        for key, value in s.options.items():
            out[key] = list(value) if isinstance(value, list) else value
        return out

    def _uci_set(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        config, section, values = args.get("config"), args.get("section"), args.get("values")
        if not isinstance(config, str) or not isinstance(values, dict) or not isinstance(section, str):
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "uci", config, "write"):
            return UBUS_PERMISSION_DENIED, None
        ctx = self._ctx(sid)
        try:
            p = ctx.load(config)
        except uci.UciError:
            return UBUS_NOT_FOUND, None
        err = 0
        for key, value in values.items():
            if not uci.valid_name(key):
                err = UBUS_INVALID_ARGUMENT
                continue
            s = p.section(section)
            if s is None:
                err = UBUS_NOT_FOUND
                continue
            ptr = self._ptr(p, s, key)
            if isinstance(value, list):
                if key in s.options:
                    uci.delete(ctx, self._ptr(p, s, key))
                for item in value:
                    item_ptr = self._ptr(p, s, key)
                    item_ptr.value = str(item)
                    uci.add_list(ctx, item_ptr)
            elif isinstance(s.options.get(key), list):
                uci.delete(ctx, ptr)
                ptr = self._ptr(p, s, key)
                ptr.value = _format(value)
                uci.set_(ctx, ptr)
            else:
                ptr.value = _format(value)
                if s.options.get(key) != ptr.value:
                    uci.set_(ctx, ptr)
        if not err:
            ctx.save(p)
        return err, None

    @staticmethod
    def _ptr(p: uci.Package, s: uci.Section, option: str | None) -> uci.Ptr:
        ptr = uci.Ptr()
        ptr.package, ptr.section, ptr.option, ptr.p, ptr.s = p.name, s.name, option, p, s
        ptr.done = True
        ptr.complete = option is None or option in s.options
        ptr.o = option if option is not None and option in s.options else None
        return ptr

    def _uci_delete(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        config, section = args.get("config"), args.get("section")
        if not isinstance(config, str) or not isinstance(section, str):
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "uci", config, "write"):
            return UBUS_PERMISSION_DENIED, None
        ctx = self._ctx(sid)
        try:
            p = ctx.load(config)
        except uci.UciError:
            return UBUS_NOT_FOUND, None
        s = p.section(section)
        if s is None:
            return UBUS_NOT_FOUND, None
        names = args.get("options") if "options" in args else ([args["option"]] if "option" in args else None)
        if names is None:
            uci.delete(ctx, self._ptr(p, s, None))
        else:
            found = [n for n in names if isinstance(n, str) and n in s.options]
            if not found:
                return UBUS_NOT_FOUND, None
            for name in found:
                uci.delete(ctx, self._ptr(p, s, name))
        ctx.save(p)
        return UBUS_OK, None

    def _uci_changes(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        config = args.get("config")
        if not isinstance(config, str):
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "uci", config, "read"):
            return UBUS_PERMISSION_DENIED, None
        try:
            p = self._ctx(sid).load(config)
        except uci.UciError:
            return UBUS_NOT_FOUND, None
        names = {
            uci.ADD: "add",
            uci.REMOVE: "remove",
            uci.CHANGE: "set",
            uci.RENAME: "rename",
            uci.REORDER: "order",
            uci.LIST_ADD: "list-add",
            uci.LIST_DEL: "list-del",
        }
        changes = []
        for cmd, section, option, value in p.saved_delta:
            item: list[Any] = [names[cmd], section]
            if option is not None:
                item.append(option)
            if value is not None:
                item.append(int(value) if cmd == uci.REORDER else value)
            changes.append(item)
        return UBUS_OK, {"changes": changes}

    def _uci_commit(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        return self._revert_commit(sid, args, True)

    def _uci_revert(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        return self._revert_commit(sid, args, False)

    def _revert_commit(self, sid: str, args: dict[str, Any], commit: bool) -> tuple[int, Any]:
        if self.pending_apply:
            return UBUS_PERMISSION_DENIED, None
        config = args.get("config")
        if not isinstance(config, str):
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "uci", config, "write"):
            return UBUS_PERMISSION_DENIED, None
        ctx = self._ctx(sid)
        try:
            p = ctx.load(config)
        except uci.UciError:
            return UBUS_NOT_FOUND, None
        if commit:
            ctx.commit(p)
            self.events.append({"type": "config.change", "data": {"package": config}})
        else:
            ptr = uci.Ptr()
            ptr.package, ptr.p = config, p
            ctx.revert(ptr)
        return UBUS_OK, None

    # -- file, rc, dhcp --------------------------------------------------------------------------------------------
    def _file_read(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        path = args.get("path")
        if not isinstance(path, str) or not path:
            return UBUS_INVALID_ARGUMENT, None
        if not self.access(sid, "file", os.path.normpath(path), "read"):
            return UBUS_PERMISSION_DENIED, None
        real = self.root / path.lstrip("/")
        if not real.is_file():
            return UBUS_NOT_FOUND, None
        if real.stat().st_size >= RPC_FILE_MAX_SIZE:
            return UBUS_NOT_SUPPORTED, None
        return UBUS_OK, {"data": real.read_text()}

    def _file_exec(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        command, params = args.get("command"), args.get("params") or []
        if not isinstance(command, str) or not isinstance(params, list):
            return UBUS_INVALID_ARGUMENT, None
        if "env" in args:
            return UBUS_PERMISSION_DENIED, None
        if not (self.root / command.lstrip("/")).is_file():
            return UBUS_NOT_FOUND, None
        line = " ".join([command] + [p for p in params if isinstance(p, str)])
        if not (self.access(sid, "file", command, "exec") or self.access(sid, "file", line, "exec")):
            return UBUS_PERMISSION_DENIED, None
        self.executed.append(line)
        planned = self.exec_results.get(line, (0, "", ""))
        if isinstance(planned, list):  # one result per run, then success
            planned = planned.pop(0) if planned else (0, "", "")
        code, out, err = planned
        data: dict[str, Any] = {"code": code}
        if out:
            data["stdout"] = out
        if err:
            data["stderr"] = err
        return UBUS_OK, data

    def _rc_init(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        name, action = args.get("name"), args.get("action")
        if not isinstance(name, str) or not isinstance(action, str) or "/" in name or ".." in name:
            return UBUS_INVALID_ARGUMENT, None
        if not (self.root / "etc/init.d" / name).is_file():
            return UBUS_NOT_FOUND, None
        if action not in ("disable", "enable", "stop", "start", "restart", "reload"):
            return UBUS_INVALID_ARGUMENT, None
        self.executed.append(f"/etc/init.d/{name} {action}")
        return UBUS_OK, None  # rc.c:301-306: whatever the script's exit code

    def _dhcp_ipv4leases(self, sid: str, args: dict[str, Any]) -> tuple[int, Any]:
        return UBUS_OK, {"device": {dev: {"leases": leases} for dev, leases in self.odhcpd_leases.items()}}


def _format(value: Any) -> str:
    """rpcd uci.c rpc_uci_format_blob: booleans as 1/0, numbers as decimal text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
