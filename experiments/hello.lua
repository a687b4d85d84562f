-- The smallest gan experiment: a random batch through one linear map, on the CPU.
-- Run it with: bin/gan run experiments/hello.lua
local gan = require "gan"

print("gan " .. gan.version)
local x = gan.randn({4, 3})
local w = gan.randn({3, 2})
print("x:")
print(x)
print("x:matmul(w):")
print(x:matmul(w))
