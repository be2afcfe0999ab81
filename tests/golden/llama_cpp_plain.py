"""llama-cpp-python with llama.cpp's plain kernels: weights kept in the file's layout instead of
repacked for the CPU's wide kernels (Q4_0, Q4_K, ... on x86), whose summation orders depend on
the CPU. The plain dot products are the order the engine's llama.cpp arithmetic reproduces."""


def use_plain_kernels():
    """Makes every Llama() created afterwards load its weights without repacking them."""
    import llama_cpp.llama_cpp as bindings  # the module Llama() takes its defaults from
    default_params = bindings.llama_model_default_params

    def params_without_repack():
        params = default_params()
        params.use_extra_bufts = False
        return params
    bindings.llama_model_default_params = params_without_repack
