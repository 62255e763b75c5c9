"""Turning a filter list on or off in the user's config file, keeping every comment and line they wrote.

pyyaml cannot write a document back with its comments, so the change is made in the text: the composed node
tree says where the list's entry is, and only the ``enabled:`` value there is replaced (or a line added). The
result is read back through ``config.load`` before it replaces the file, so a bad edit never lands; the file
is replaced atomically, and the running proxy, which watches it, reloads its lists within a second.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from pixelguard import config as configmod
from pixelguard.errors import ConfigError


def set_list_enabled(cfg: configmod.Config, name: str, enabled: bool) -> Path:
    """Write ``enabled`` for the list ``name`` into the config file (created if there is none); return its path.

    Raises ConfigError for a name that is not a configured list, or a file that changed into something this
    cannot edit.
    """
    from pixelguard.lists import atomic_write

    if name not in {spec.name for spec in cfg.lists}:
        configured = ", ".join(spec.name for spec in cfg.lists)
        raise ConfigError(f"{name!r} is not a configured list (configured: {configured})")
    path = cfg.source or configmod.locate()
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    new = _edited(text, path, cfg, name, enabled)
    # Read back before writing: the file must still load, with the list in the asked state.
    check: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A new file of our own (O_EXCL), never one a symbolic link planted at a fixed name points to: the
        # config may hold the user's identity.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
        check = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        try:
            loaded = configmod.load(check)
        except ConfigError as e:
            raise ConfigError(f"{str(e).replace(str(check), str(path))} (after the edit; not written)") from e
        if not any(spec.name == name and spec.enabled == enabled for spec in loaded.lists):
            raise ConfigError(f"{path}: could not set lists.{name}.enabled (the file is left as it was)")
        atomic_write(path, new)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write config file: {e.strerror or e}") from e
    finally:
        if check is not None:
            check.unlink(missing_ok=True)
    return path


def _edited(text: str, path: Path, cfg: configmod.Config, name: str, enabled: bool) -> str:
    value = "true" if enabled else "false"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML, not edited: {e}") from e
    lists_key = lists_node = None
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "lists":
                lists_key, lists_node = k, v
    if isinstance(lists_node, yaml.SequenceNode):
        for item in lists_node.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            fields = {k.value: (k, v) for k, v in item.value if isinstance(k, yaml.ScalarNode)}
            name_node = fields.get("name", (None, None))[1]
            if not isinstance(name_node, yaml.ScalarNode) or name_node.value != name:
                continue
            if "enabled" in fields:
                v = fields["enabled"][1]
                return text[: v.start_mark.index] + value + text[v.end_mark.index :]
            if item.flow_style:  # - {name: x, url: ...}: add the key before the closing brace
                at = text.rindex("}", 0, item.end_mark.index)
                return text[:at] + f", enabled: {value}" + text[at:]
            # A block mapping: a line of its own, indented like the entry's keys, after the name line.
            k = fields["name"][0]
            line_end = text.find("\n", name_node.end_mark.index)
            line = f"{' ' * k.start_mark.column}enabled: {value}"
            if line_end < 0:
                return text + "\n" + line + "\n"
            return text[: line_end + 1] + line + "\n" + text[line_end + 1 :]
        # Not written in the file (a default list): one more entry, as the other entries are written.
        entry = f"{{name: {name}, enabled: {value}}}"
        if lists_node.flow_style:
            at = text.rindex("]", 0, lists_node.end_mark.index)
            sep = ", " if lists_node.value else ""
            return text[:at] + sep + entry + text[at:]
        first = lists_node.value[0] if lists_node.value else None
        column = first.start_mark.column - 2 if first is not None else 2
        end = lists_node.end_mark.index
        line_start = text.rfind("\n", 0, end) + 1
        if text[line_start:end].strip():  # the sequence ends mid-line (end of file): start a new one
            return text[:end] + "\n" + " " * column + "- " + entry + "\n" + text[end:]
        return text[:line_start] + " " * column + "- " + entry + "\n" + text[line_start:]
    # No lists in the file (the defaults apply): add this one's entry.
    block = _lists_block(cfg, name, enabled)
    if lists_key is not None and lists_node is not None:  # `lists:` with no value
        return text[: lists_key.start_mark.index] + block.rstrip("\n") + text[lists_node.end_mark.index :]
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: the top level is not a mapping, not edited")
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + block


def _lists_block(cfg: configmod.Config, name: str, enabled: bool) -> str:
    spec = next(spec for spec in cfg.lists if spec.name == name)
    lines = [
        "# Filter lists: the defaults, and these changes and additions (written by pixelguard)",
        "lists:",
    ]
    lines.append(f"  - name: {spec.name}")
    if spec.name not in {d.name for d in configmod.default_lists(cfg.data_dir)}:
        if spec.url:
            lines.append(f"    url: {spec.url}")
        elif spec.bundled:
            lines.append("    path: bundled")
        else:
            lines.append(f"    path: {_quoted(str(spec.file))}")
    lines.append(f"    enabled: {'true' if enabled else 'false'}")
    return "\n".join(lines) + "\n"


def _quoted(s: str) -> str:
    return yaml.safe_dump(s, default_style='"').strip()
