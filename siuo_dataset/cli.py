"""``siuo-data``: info | validate | build | placeholders | push. Errors are one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from siuo_dataset.domains import DOMAINS
from siuo_dataset.errors import SiuoError, run_cli
from siuo_dataset.items import LoadedSiuo, load_siuo


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder with siuo_gen.json, siuo_mcqa.json and images (flat, images/ or "
        "SIUO-images.zip), or the path of SIUO-images.zip (default: $SIUO_DATA_DIR, else the "
        "cache, else the pinned Hub revision)",
    )
    parser.add_argument(
        "--allow-missing-images", action="store_true", help="accept absent images (image=None)"
    )
    parser.add_argument(
        "--no-verify-checksums",
        action="store_true",
        help="accept annotation files whose sha256 differs from the pinned release",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _load(args) -> LoadedSiuo:
    return load_siuo(
        args.data_dir,
        allow_missing_images=args.allow_missing_images,
        verify_checksums=not args.no_verify_checksums,
        missing_fix="pass --allow-missing-images (or make placeholders: siuo-data placeholders "
        "--data-dir DIR)",
    )


def _summary(loaded: LoadedSiuo) -> dict:
    counts = Counter(item.category for item in loaded.items)
    return {
        "source": str(loaded.source.root),
        "image_dir": str(loaded.source.image_dir),
        **loaded.provenance(),
        "domains": {d.name: counts[d.name] for d in DOMAINS},
        "notes": loaded.notes,
    }


def cmd_info(args) -> int:
    """A summary needs no images: it counts them (missing ones are never an error here)."""
    loaded = load_siuo(
        args.data_dir,
        allow_missing_images=True,
        verify_checksums=not args.no_verify_checksums,
        decode_images=False,
    )
    summary = {**_summary(loaded), "placeholder_images": _placeholders(loaded)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    present = summary["n_items"] - summary["missing_images"]
    print(
        f"SIUO at {summary['source']} ({summary['origin']}), {summary['n_items']} items, "
        f"images {present} of {summary['n_items']} present ({summary['missing_images']} missing, "
        f"{summary['placeholder_images']} placeholders)"
    )
    for name, count in summary["domains"].items():
        print(f"  {name:<32} {count:>3}")
    return 0


def _placeholders(loaded: LoadedSiuo) -> int:
    from siuo_dataset.publish import count_placeholders

    return count_placeholders(loaded)


def cmd_placeholders(args) -> int:
    """Placeholder PNGs for the missing images, so the image tasks run on the annotations alone; every
    figure computed on them says so (they carry a mark that results count)."""
    from siuo_dataset.placeholders import write_placeholder_images

    loaded = load_siuo(args.data_dir, allow_missing_images=True, decode_images=False)
    if loaded.source.origin != "local":
        raise SiuoError(
            f"--data-dir must be your local SIUO folder (this is {loaded.source.origin}): pass --data-dir DIR"
        )
    missing = [item.image_name for item in loaded.items if item.image_path is None]
    present = len(missing) < len(loaded.items)
    folder = loaded.source.image_dir if present else loaded.source.root / "images"
    write_placeholder_images(missing, folder)
    print(
        f"PLACEHOLDER IMAGES: wrote {len(missing)} of {len(loaded.items)} images into {folder}; they are "
        "not the SIUO images, and every figure computed on them says so (results, report, siuo-eval)"
    )
    return 0


def cmd_validate(args) -> int:
    loaded = _load(args)
    summary = {**_summary(loaded), "images_sha256": loaded.image_provenance()["images_sha256"]}
    if args.json:
        print(json.dumps({"ok": True, **summary}, indent=2))
        return 0
    print(
        f"OK: {summary['n_items']} items valid; annotation sha256 "
        f"{'verified' if not args.no_verify_checksums else 'NOT verified (--no-verify-checksums)'}; "
        f"images {summary['n_items'] - summary['missing_images']}/{summary['n_items']} present and decodable "
        f"(sha256 over all {summary['images_sha256'][:12]})"
    )
    for note in summary["notes"]:
        print(f"note: {note}")
    return 0


def cmd_build(args) -> int:
    from siuo_dataset.publish import build_folder, read_manifest

    loaded = _load(args)
    out = build_folder(loaded, args.out)
    placeholders = read_manifest(out).get("placeholder_images", 0)
    if args.json:
        print(json.dumps({"out": str(out), **loaded.provenance(), "placeholder_images": placeholders}))
        return 0
    if placeholders:
        print(
            f"PLACEHOLDER IMAGES: {placeholders} of {len(loaded.items)} images are placeholders; the card "
            "says so and siuo-data push refuses this build (unless --allow-placeholders)"
        )
    print(
        f"built {out} (configs generation, mcqa; {len(loaded.items)} rows each); "
        f"load it with datasets.load_dataset({str(out)!r}, 'generation')"
    )
    return 0


def cmd_push(args) -> int:
    from pathlib import Path

    from siuo_dataset.publish import (
        check_publishable,
        check_repo_id,
        inert,
        push_folder,
        read_built_file,
        read_manifest,
        unlisted_files,
        upload_plan,
    )

    folder = Path(args.folder)
    check_repo_id(args.repo)
    check_publishable(folder, allow_placeholders=args.allow_placeholders)
    files, left_out = upload_plan(folder), unlisted_files(folder)
    gate = args.public and not args.no_gate
    if args.dry_run:
        listed = read_manifest(folder)["files"]
        for name in files:
            read_built_file(folder, name, listed[name])  # the same checks as the upload
        if args.json:
            print(json.dumps({"repo": args.repo, "files": files, "left_out": left_out, "gated": gate}))
            return 0
        access = "public, gated" if gate else "public" if args.public else "private"
        print(f"would upload to dataset repo {args.repo} ({access}):")
        for name in files:
            print(f"  {inert(name)}")
    if left_out:
        shown = ", ".join(inert(name) for name in left_out[:10])
        more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
        print(f"not uploaded (not written by the build): {shown}{more}", file=sys.stderr)
    if args.dry_run:
        return 0
    print(
        push_folder(
            folder,
            args.repo,
            private=not args.public,
            gate=not args.no_gate,
            allow_placeholders=args.allow_placeholders,
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siuo-data", description="SIUO as a Hugging Face dataset")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("info", cmd_info, "summarise the data"),
        ("validate", cmd_validate, "check integrity and consistency"),
        ("build", cmd_build, "write a Hub-ready parquet folder"),
    ):
        command = sub.add_parser(name, help=help_text)
        _add_source_arguments(command)
        command.set_defaults(handler=handler)
        if name == "build":
            command.add_argument("--out", required=True, help="output folder (written atomically)")
    placeholders = sub.add_parser(
        "placeholders", help="write placeholder images for the missing ones (run image tasks on annotations)"
    )
    placeholders.add_argument("--data-dir", required=True, help="your SIUO folder (the two annotation files)")
    placeholders.set_defaults(handler=cmd_placeholders)
    push = sub.add_parser("push", help="upload a built folder to the Hub")
    push.add_argument("folder")
    push.add_argument("--repo", required=True, help="ORG/NAME of the Hub dataset repo")
    push.add_argument(
        "--public",
        action="store_true",
        help="create the repo public (default private); it is gated (automatic approval) unless --no-gate",
    )
    push.add_argument(
        "--no-gate", action="store_true", help="with --public: leave the repo ungated (anyone can download)"
    )
    push.add_argument("--dry-run", action="store_true", help="print what would be uploaded")
    push.add_argument(
        "--allow-placeholders",
        action="store_true",
        help="push a build made with placeholder images (its card says so); refused otherwise",
    )
    push.add_argument("--json", action="store_true")
    push.set_defaults(handler=cmd_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("siuo-data", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
