"""global_options(): the adapter's option singleton with its validation rules (master option set;
tf_adapter_2.x/python/npu_device/configs/npu_config.py and option_base.py).

Assignment of an unknown option raises ValueError; a value outside an option's list raises
TypeError when the default is not None and the type differs, ValueError otherwise.
NPU_DOUBLE_BRANCH models older releases (branches.py): no `deterministic` before r1.12, precision_mode's
shorter list before r1.12 and its 'allow_fp32_to_fp16' default before r1.13.
"""
from npu_device import branches


class _Option:
    def __init__(self, default=None, optional=None):
        self.default, self.optional = default, optional


class _Config:
    _options = {}

    def __init__(self):
        object.__setattr__(self, "_values", {})
        for name, spec in self._options.items():
            value = spec() if isinstance(spec, type) else spec.default
            self._values[name] = value

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(name)

    def __setattr__(self, name, value):
        from npu_device import record
        if name not in self._values or isinstance(self._options[name], type):
            raise ValueError("NpuConfig has no option %s" % name)
        spec = self._options[name]
        if spec.optional is not None and value not in spec.optional:
            if spec.default is not None and type(value) is not type(spec.default):
                raise TypeError("Expected %s, got %r" % (type(spec.default).__name__, value))
            raise ValueError("'%s' not in optional list %s" % (value, spec.optional))
        from npu_device import npu_device
        record("option", name=type(self).__name__ + "." + name, value=value,
               after_open=npu_device.global_npu_ctx() is not None)
        self._values[name] = value

    def as_dict(self):
        out = {}
        for name, value in self._values.items():
            if isinstance(value, _Config):
                out.update(value.as_dict())
            elif value is not None:
                out[name] = "1" if value is True else "0" if value is False else str(value)
        return out


class DumpConfig(_Config):
    _options = {"enable_dump": _Option(False, [True, False]), "dump_path": _Option(),
                "dump_step": _Option(), "dump_mode": _Option("output", ["input", "output", "all"]),
                "dump_data": _Option("tensor", ["tensor", "stats"]), "dump_layer": _Option(),
                "enable_dump_debug": _Option(False, [True, False]),
                "dump_debug_mode": _Option("all", ["all", "aicore_overflow", "atomic_overflow"])}


class ProfilingConfig(_Config):
    _options = {"enable_profiling": _Option(False, [True, False]), "profiling_options": _Option()}


class MemoryConfig(_Config):
    _options = {"atomic_clean_policy": _Option(0, [0, 1]), "static_memory_policy": _Option(0, [0, 2, 3, 4])}


PRECISION_MODES = ["force_fp32", "allow_fp32_to_fp16", "force_fp16", "must_keep_origin_dtype",
                   "allow_mix_precision", "cube_fp16in_fp32out", "allow_mix_precision_fp16",
                   "allow_mix_precision_bf16", "allow_fp32_to_bf16"]


class NpuConfig(_Config):
    _options = {"precision_mode": _Option(None, PRECISION_MODES), "precision_mode_v2": _Option(),
                "modify_mixlist": _Option(), "customize_dtypes": _Option(), "op_precision_mode": _Option(),
                "dump_config": DumpConfig, "profiling_config": ProfilingConfig, "memory_config": MemoryConfig,
                "graph_memory_max_size": _Option(), "variable_memory_max_size": _Option(),
                "jit_compile": _Option("auto", ["true", "false", "auto"]), "deterministic": _Option(0, [0, 1]),
                "op_compiler_cache_mode": _Option("enable"), "op_compiler_cache_dir": _Option(),
                "enable_exception_dump": _Option(2), "fusion_switch_file": _Option(), "graph_run_mode": _Option(1)}


_GLOBAL = []


class _NpuConfigBefore1_12(NpuConfig):
    _options = dict({k: v for k, v in NpuConfig._options.items() if k != "deterministic"},
                    precision_mode=_Option("allow_fp32_to_fp16", PRECISION_MODES[:5]))


class _NpuConfig1_12(NpuConfig):
    _options = dict(NpuConfig._options, precision_mode=_Option("allow_fp32_to_fp16", PRECISION_MODES))


def global_options():
    if not _GLOBAL:
        config = NpuConfig if branches.at_least(1, 13) else _NpuConfig1_12 if branches.at_least(1, 12) \
            else _NpuConfigBefore1_12
        _GLOBAL.append(config())
    return _GLOBAL[0]


def run_context_options():
    return {}


experimental = None
