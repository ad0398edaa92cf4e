"""Add-on preferences: how to reach the engine."""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy

from .engine_link import EngineConfig


class RefinePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__  # type: ignore[assignment]

    mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Engine",
        items=[
            ("LAUNCH", "Start automatically", "Start the engine with the Python below when first needed"),
            ("ATTACH", "Attach", "Connect to a running engine (e.g. through an SSH tunnel to a GPU machine)"),
        ],
        default="LAUNCH",
    )
    python: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Engine Python",
        subtype="FILE_PATH",
        description="Interpreter with the engine: <venv>/bin/python after `pip install <checkout>`, or <checkout>/.venv/bin/python",
    )
    engine_root: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Engine folder",
        subtype="DIR_PATH",
        description="The checkout that contains the 'engine' package; empty when the engine is installed in the Engine Python",
    )
    host: bpy.props.StringProperty(name="Host", default="127.0.0.1")  # type: ignore[valid-type]
    port: bpy.props.IntProperty(name="Port", min=0, max=65535, default=0)  # type: ignore[valid-type]
    token: bpy.props.StringProperty(name="Token", subtype="PASSWORD", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "mode", expand=True)
        if self.mode == "LAUNCH":
            layout.prop(self, "python")
            layout.prop(self, "engine_root")
        else:
            row = layout.row()
            row.prop(self, "host")
            row.prop(self, "port")
            layout.prop(self, "token")
        row = layout.row()
        row.operator("refine.test_connection", icon="LINKED")
        row.operator("refine.stop_engine", icon="CANCEL")


def engine_config(context: bpy.types.Context) -> EngineConfig:
    prefs = context.preferences.addons[__package__].preferences
    try:
        log_dir = Path(bpy.utils.extension_path_user(__package__, create=True))
    except (ValueError, AttributeError):  # not installed as an extension (e.g. run from source)
        log_dir = Path(tempfile.gettempdir())
    return EngineConfig(
        mode=prefs.mode,
        python=bpy.path.abspath(prefs.python),
        engine_root=bpy.path.abspath(prefs.engine_root),
        host=prefs.host,
        port=prefs.port,
        token=prefs.token,
        log=str(log_dir / "engine.log"),
    )


def register() -> None:
    bpy.utils.register_class(RefinePreferences)


def unregister() -> None:
    bpy.utils.unregister_class(RefinePreferences)
