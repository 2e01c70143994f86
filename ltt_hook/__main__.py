"""``python -m ltt_hook``: what the hook sees on this machine and what it would choose.

``--json`` prints the same as one JSON object, for scripts and bug reports. Subcommands export
the decision for tools the hook cannot reach and check an installed torch:

    python -m ltt_hook index-url                    # this machine's PyTorch index URL
    python -m ltt_hook requirements torch torchvision [-o FILE]
    python -m ltt_hook pip-conf                     # an [ltt] snippet for a shared pip.conf
    python -m ltt_hook check                        # does the installed torch fit this machine?
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from . import __version__, config as config_mod, data, detection, extension_report
from ._packaging import Version
from .backends import parse_backend
from .options import configured_settings
from .selection import compatibility, incompatibility, judged_by
from .urls import redact

if TYPE_CHECKING:
    from .offer import Offer


def newest_release() -> str:
    return max(data.RELEASE_BACKENDS, key=Version)


def _offered_backends(offer: Optional[Offer], release: str) -> List[str]:
    """The backends the index offers for torch ``release`` (best first), from its page."""
    if offer is None:
        return []
    found = {b.backend for b in offer.builds if b.backend is not None
             and f"{b.version.major}.{b.version.minor}" == release}
    return [b.name for b in sorted(found, key=lambda b: b.rank, reverse=True)]


def report(config: config_mod.Config, machine: detection.Machine, offer: Optional[Offer] = None,
           offer_note: str = "") -> Dict[str, Any]:
    """Everything ``python -m ltt_hook`` shows, as plain data: the decision of a plain
    ``pip install torch`` on this machine (:func:`ltt_hook.exports.the_decision`), from what the
    index offers (``offer``) when it could be read."""
    from .exports import the_decision

    decision = the_decision(config, machine, offer=offer)
    release = decision.expected[0] if decision.expected else newest_release()
    offered = _offered_backends(offer, release)
    newest_offered = max((Version(b.version.public) for b in offer.builds), default=None) if offer else None
    newer = newest_offered is not None and Version(f"{newest_offered.major}.{newest_offered.minor}") > Version(
        newest_release())
    backends: List[Dict[str, Any]] = []
    tables = data.RELEASE_BACKENDS.get(release, "").split()
    listed = offered + [name for name in tables if name not in offered]  # the index's, then the tables' others
    if listed:
        for name in listed:
            backend = parse_backend(name)
            reason = incompatibility(backend, Version(release), machine)
            why = compatibility(backend, Version(release), machine) if reason is None else None
            row, source = judged_by(backend, Version(release), machine)
            backends.append({"backend": name, "compatible": reason is None, "reason": reason, "why": why,
                             "row": row, "source": source, "offered": name in offered if offer else None})
    chosen = decision.expected[1].name if decision.expected and not decision.why_off else None
    fixed = config.backends
    try:
        import pip

        pip_version = pip.__version__
    except ImportError:
        pip_version = None
    machine_info = machine.as_dict()
    for gpu, gpu_info in zip(machine.gpus, machine_info["gpus"]):
        gpu_info["summary"] = gpu.summary
    return {
        "ltt_hook": __version__,
        "pip": pip_version,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "machine": machine_info,
        "settings": {
            "backend": {"value": ",".join(b.name for b in fixed) if fixed else "auto",
                        "from": config.origins["backend"]},
            "channel": {"value": config.channel, "from": config.origins["channel"]},
            "index-url": {"value": redact(config.index_url), "from": config.origins["index-url"]},
            "disable": {"value": config.disable, "from": config.origins["disable"]},
            "strict": {"value": config.strict, "from": config.origins["strict"]},
            **({"detection-root": {"value": os.environ["LTT_SYSROOT"], "from": "environment variable LTT_SYSROOT"}}
               if os.environ.get("LTT_SYSROOT", "").strip() else {}),
        },
        "warnings": config.warnings,
        "off": decision.why_off,
        "newest_release": release,
        "offered_backends": bool(offered),
        "index": {"read": offer is not None, "how": offer_note,
                  "newest_torch": str(newest_offered) if newest_offered else None,
                  "newer_than_tables": newer, "tables_end_at": newest_release()},
        "backends": backends,
        "consulted_pages": [redact(config.page(b)) for b in decision.plan],
        "notes": list(decision.warnings + decision.notes),
        "choice": {"torch": release, "backend": chosen,
                   "index": redact(config.page(decision.expected[1]))
                   if chosen and decision.expected else None},
        "extensions": extension_report.report(config, decision),
    }


def _row_text(row: Dict[str, Any]) -> str:
    """A table row in a few words: ``row 2.9-2.14 linux-aarch64 cu130 cu132 cu134: 8.0 ... 12.0``."""
    if row.get("rule") == "jetson":
        only = ", ".join(row["sbsa_socs"])
        soc = f"nvidia,{row['soc']}" if row["soc"] else f"L4T R{row['l4t']}"
        return f"the Jetson rule ({soc}; PyTorch's CUDA builds support only {only})"
    if "releases" not in row:
        return f"the XPU device list ({len(row['platforms'])} platforms)"
    where = " ".join(row.get("platforms", ["linux-x86_64"]))
    arches = " ".join(a + ("+PTX" if a in row.get("ptx", ()) else "") for a in row["arches"])
    borrowed = f" (borrowed from {row['borrowed_from']})" if row.get("borrowed_from") else ""
    return f"row {row['releases']} {where} {' '.join(row['backends'])}{borrowed}: {arches}"


def render(info: Dict[str, Any]) -> str:
    m = info["machine"]
    lines = [f"ltt-hook {info['ltt_hook']} (pip {info['pip']}, Python {info['python']})", "", "Machine:"]
    driver = m["nvidia_driver"]
    where = f"{m['system']} {m['arch']}"  # the interpreter's CPU architecture (its platform tag)
    lines.append(f"  {where}, NVIDIA driver {driver}" if driver else f"  {where}, no NVIDIA driver")
    for i, g in enumerate(m["gpus"]):
        lines.append(f"  GPU {i}: {g['summary']}")
    if not m["gpus"]:
        lines.append("  no GPU found")
    lines += [f"  - {note}" for note in m["notes"]]
    lines += ["", "Settings:"]
    for key, s in info["settings"].items():
        lines.append(f"  {key} = {s['value']}  ({s['from']})")
    lines += [f"  warning: {w}" for w in info["warnings"]]
    index = info.get("index") or {}
    where = "as the index offers them" if info.get("offered_backends") else "by ltt-hook's tables"
    lines += ["", f"Backends of torch {info['newest_release']} ({where}):"]
    for b in info["backends"]:
        verdict = f"compatible: {b['why']}" if b["compatible"] else f"excluded: {b['reason']}"
        if b.get("offered") is False:
            verdict += " (the index has no such build of it)"
        lines.append(f"  {b['backend']:<10} {verdict}")
        if b.get("row"):
            lines.append(f"  {'':<10} by {_row_text(b['row'])}; source: {b['source']}")
    c = info["choice"]
    lines.append("")
    if index.get("how"):
        lines.append(f"The index: {index['how']}.")
    if index.get("newer_than_tables"):
        lines.append(f"Note: the index holds torch {index['newest_torch']}, newer than ltt-hook's tables (they end "
                     f"at {index['tables_end_at']}); its builds are judged by the nearest rows.")
    lines += [f"Note: {note}" for note in info["notes"]]
    if info["off"]:
        lines.append(f"ltt-hook is off ({info['off']}): pip is plain pip, and `pip install torch` takes "
                     "torch from your own indexes (on PyPI, its default CUDA build).")
        return "\n".join(lines)
    if c["backend"]:
        what = f"torch {c['torch']}.x" if c["torch"][:1].isdigit() else f"the newest {c['torch']} torch"
        lines.append(f"`pip install torch` would now install {what}+{c['backend']} from {c['index']}")
    else:
        lines.append(f"No build of torch {c['torch']} fits; pip would pick the newest older release that does.")
    lines.append("Pages per PyTorch project, read in this order until one has a build for this machine: "
                 + ", ".join(info["consulted_pages"]))
    lines += extension_report.render(info.get("extensions"))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    from . import exports

    parser = argparse.ArgumentParser(prog="python -m ltt_hook", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("index-url", help="print this machine's PyTorch index URL")
    for command, what in (("requirements", "a requirements file pinned to this machine's build (pip, uv pip)"),
                          ("uv", "[tool.uv] index and sources for this machine's build"),
                          ("poetry", "a Poetry source and dependencies for this machine's build")):
        req = commands.add_parser(command, help=what)
        req.add_argument("projects", nargs="+")
        req.add_argument("-o", "--output", help="write to this file instead of standard output")
        req.add_argument("--platform", action="append", default=[], help="resolve for this platform (pip's option)")
        req.add_argument("--python-version", help="resolve for this Python (pip's option)")
        req.add_argument("--abi", help="resolve for this ABI (pip's option)")
    commands.add_parser("pip-conf", help="an [ltt] snippet for a shared pip.conf")
    commands.add_parser("check", help="whether the installed torch fits this machine")
    args = parser.parse_args(argv)
    try:
        # pip's own option sources too (PIP_CPUONLY, [install] pytorch-computation-backend...),
        # as in a pip run; an override variable that does not parse is a ConfigError too
        config = config_mod.load(options=configured_settings())
        machine = detection.detect(overrides=config.overrides)
    except config_mod.ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    offer, offer_note = (exports.read_offer(config) if args.command in (None, "index-url", "pip-conf")
                         and not config.disable else (None, ""))
    if args.command in ("index-url", "requirements", "uv", "poetry", "pip-conf"):
        from .exports import HookOff, _on

        try:
            _on(config, machine)
        except HookOff as exc:
            print(f"ERROR: {exc}; nothing to export.", file=sys.stderr)
            return 1
    if args.command == "index-url":
        print(redact(exports.index_url(config, machine, offer)))
    elif args.command == "pip-conf":
        print(exports.pip_conf(config, machine, offer), end="")
    elif args.command in ("requirements", "uv", "poetry"):
        write = {"requirements": exports.requirements, "uv": exports.uv_project, "poetry": exports.poetry_project}
        target = exports.Target(tuple(args.platform), args.python_version, args.abi)
        try:
            text = write[args.command](config, args.projects, target)
        except exports.ExportError as exc:
            print(f"ERROR: pip could not resolve {' '.join(args.projects)}: {exc}", file=sys.stderr)
            return 1
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            print(text, end="")
    elif args.command == "check":
        fits, lines = exports.check(config, machine)
        extensions_fit, extension_lines = extension_report.check(config)  # extensions built for another torch
        print("\n".join(lines + extension_lines))
        return 0 if fits and extensions_fit else 1
    else:
        info = report(config, machine, offer, offer_note)
        print(json.dumps(info, indent=2) if args.json else render(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
