--- gan.nn: modules and layers (as torch.nn), `gan.nn.functional` (also `gan.F`),
-- `gan.nn.init` initialisers, `gan.nn.utils` (spectral norm, clipping, EMA) and
-- `gan.nn.blocks` (networks several models share: DCGAN's, ResNet, U-Net, PatchGAN).
--
--     local nn = require("gan.nn")
--     local G = nn.Sequential {
--        nn.ConvTranspose2d(100, 64, 4), nn.BatchNorm2d(64), nn.ReLU(),
--        nn.ConvTranspose2d(64, 1, 4, { stride = 2, padding = 1 }), nn.Tanh() }
-- @module gan.nn
local module = require("gan.nn.module")

local nn = {}
nn.functional = require("gan.nn.functional")
nn.init = require("gan.nn.initializers")
nn.utils = require("gan.nn.utils")
nn.class = module.class
nn.is_module = module.is_module
nn.Module = module.Module
nn.Sequential = module.Sequential
nn.ModuleList = module.ModuleList
nn.ModuleDict = module.ModuleDict
for k, v in pairs(require("gan.nn.layers")) do nn[k] = v end
for k, v in pairs(require("gan.nn.gan_layers")) do nn[k] = v end
nn.blocks = require("gan.nn.blocks")
return nn
