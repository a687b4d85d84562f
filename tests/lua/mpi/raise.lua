-- Run by dist_spec under mpirun -np 2: rank 1 raises while rank 0 waits in a collective
-- that rank 1 never joins; the job must end with rank 1's error, not hang.
local gan = require("gan")
gan.dist.init()
if gan.dist.rank() == 1 then error("boom on purpose") end
gan.dist.barrier()
print("rank 0 passed the barrier: wrong")
