--- gan: tensors, ops, randomness and threads; the rest of the library hangs off this table.
-- Only the public API is here; the raw bindings (optimizer kernels, image and file I/O,
-- drawing, grad-mode switching) stay reachable as gan.core for the library itself.
-- The functions copied from gan.core (tensor, zeros, rand, grad, set_num_threads, ...)
-- are documented there, and the tensor methods under gan.core's class Tensor.
-- @module gan
local core = require("gan.core")

local gan = {}
for _, k in ipairs {
   -- tensors
   "Tensor", "tensor", "empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like",
   "arange", "linspace", "eye", "cat", "where", "matmul", "eigh", "qr",
   -- randomness
   "Generator", "manual_seed", "get_rng_state", "set_rng_state", "rand", "randn", "randint", "randperm",
   "bernoulli", "multinomial", "trunc_normal",
   -- autograd (grad mode changes only in scopes: gan.no_grad, gan.enable_grad)
   "grad", "is_grad_enabled",
   -- threads, memory, kernels
   "get_num_threads", "set_num_threads", "clock", "flop_count", "memory_stats", "empty_cache", "conv_backend",
   "set_conv_backend", "blas_core",
} do
   gan[k] = assert(core[k], k)
end
gan.core = core
--- The version of gan, a string such as "0.1.0" (lua/gan/version.lua).
gan.version = require("gan.version")
gan.float32, gan.float64, gan.int64 = "float32", "float64", "int64"

require("gan.tensor").install(gan)
require("gan.autograd").install(gan)
for _, m in ipairs { "nn", "testing", "optim", "image", "data", "losses", "penalties", "augment", "config", "run",
   "train", "plot", "eval", "models", "metrics", "dist", "autocast" } do
   gan[m] = require("gan." .. m)
end
gan.F = gan.nn.functional
local serialize = require("gan.serialize")
gan.save, gan.load = serialize.save, serialize.load
gan.save_checkpoint, gan.load_checkpoint = serialize.save_checkpoint, serialize.load_checkpoint

return gan
