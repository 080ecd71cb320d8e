"""Load the pack catalogue and profiles from disk, validating every file before any is used."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from packs.errors import PlanError, PlanErrors, from_validation, load_yaml
from packs.model import Pack, Profile

PACKS_DIR = Path(__file__).resolve().parent
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class CatalogPack:
    """A pack with its default values and where it came from (for provenance and errors)."""

    pack: Pack
    values: Mapping[str, Any]
    file: str
    values_file: str | None
    folder: Path


@dataclass(frozen=True)
class CatalogProfile:
    profile: Profile
    file: str


@dataclass(frozen=True)
class Catalogue:
    packs: Mapping[tuple[str, str], CatalogPack]
    profiles: Mapping[tuple[str, str], CatalogProfile]

    def pack(self, name: str, version: str) -> CatalogPack | None:
        return self.packs.get((name, version))

    def profile(self, name: str, version: str) -> CatalogProfile | None:
        return self.profiles.get((name, version))

    def versions(self, name: str) -> list[str]:
        from packaging.version import Version

        return sorted((v for n, v in self.packs if n == name), key=Version)

    def loaded_profiles(self, refs: Iterable[str]) -> list[tuple[Profile, str]]:
        """The profiles ``name@version`` of ``refs`` that exist, with their files, in order.

        Unknown references are left out: the resolver reports them, once, with a did-you-mean.
        """
        found = (self.profiles.get((name, version)) for name, _, version in (r.partition("@") for r in refs))
        return [(c.profile, str(c.file)) for c in found if c is not None]

    def profile_versions(self, name: str) -> list[str]:
        from packaging.version import Version

        return sorted((v for n, v in self.profiles if n == name), key=Version)


#: The folder holding strata's own ``packs/``: the shipped catalogue is shown relative to it.
PROJECT_ROOT = PACKS_DIR.parent


def _display(path: Path, root: Path | None) -> str:
    """A path as the user gave it; the shipped catalogue's files relative to the project (``packs/...``)."""
    base = root or PROJECT_ROOT
    if path.is_absolute():
        try:
            return str(path.relative_to(base))
        except ValueError:
            return str(path)
    return str(path)


def _read(model: type[M], path: Path, display: str, errors: list[PlanError]) -> M | None:
    """One validated file, or None with its problems added to ``errors`` (so every file is examined)."""
    try:
        return model.model_validate(load_yaml(path, display))
    except PlanErrors as exc:
        errors.extend(exc.errors)
    except ValidationError as exc:
        errors.extend(from_validation(exc, display, model=model))
    return None


def load_catalogue(packs_dir: Path = PACKS_DIR, root: Path | None = None) -> Catalogue:
    """Read ``catalog/<name>/<version>/pack.yaml`` and ``profiles/<name>/<version>.yaml``.

    Raises :class:`PlanErrors` with every problem found: malformed YAML, invalid fields, folder names that
    disagree with the file, manifest files that do not exist.
    """
    missing = [sub for sub in ("catalog", "profiles") if not (packs_dir / sub).is_dir()]
    if missing:
        raise PlanErrors(
            [
                PlanError(
                    _display(packs_dir, root),
                    "",
                    f"not a pack catalogue: no {' or '.join(f'{m}/' for m in missing)} folder in it (catalog/<pack>/"
                    "<version>/pack.yaml and profiles/<name>/<version>.yaml); point --packs-dir (or STRATA_PACKS_DIR) "
                    "at the folder that holds both",
                )
            ]
        )
    errors: list[PlanError] = []
    packs: dict[tuple[str, str], CatalogPack] = {}
    profiles: dict[tuple[str, str], CatalogProfile] = {}

    for pack_file in sorted((packs_dir / "catalog").glob("*/*/pack.yaml")):
        display = _display(pack_file, root)
        folder = pack_file.parent
        pack = _read(Pack, pack_file, display, errors)
        if pack is None:
            continue
        if (pack.name, pack.version) != (folder.parent.name, folder.name):
            errors.append(PlanError(display, "name", f"{pack.ref} must live in catalog/{pack.name}/{pack.version}/"))
        values: Mapping[str, Any] = {}
        values_file = folder / "values.yaml"
        values_display = None
        if values_file.exists():
            values_display = _display(values_file, root)
            try:
                loaded = load_yaml(values_file, values_display)
            except PlanErrors as exc:
                errors.extend(exc.errors)
                loaded = {}
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                errors.append(PlanError(values_display, "", "values must be a mapping"))
                loaded = {}
            values = loaded
        if pack.source.kind == "manifests":
            for i, name in enumerate(pack.source.files):
                if not (folder / name).is_file():
                    errors.append(PlanError(display, f"source.files[{i}]", f"{name} does not exist in the pack"))
        packs[(pack.name, pack.version)] = CatalogPack(pack, values, display, values_display, folder)

    for profile_file in sorted((packs_dir / "profiles").glob("*/*.yaml")):
        display = _display(profile_file, root)
        profile = _read(Profile, profile_file, display, errors)
        if profile is None:
            continue
        if (profile.name, profile.version) != (profile_file.parent.name, profile_file.stem):
            errors.append(
                PlanError(display, "name", f"{profile.ref} must live in profiles/{profile.name}/{profile.version}.yaml")
            )
        profiles[(profile.name, profile.version)] = CatalogProfile(profile, display)

    if errors:
        raise PlanErrors(errors)
    return Catalogue(packs, profiles)
