"""PyTorch side of the training-step benchmark (bench/run.sh runs it next to steps.lua).

    /usr/bin/python3 bench/steps.py CASE [iters] [warmup]

The same cases, networks, losses, optimizers and batch as bench/steps.lua (read its header);
the same output lines. One case per process, so that the peak resident memory
(ru_maxrss) is the case's own.
"""
import ctypes
import ctypes.util
import os
import random
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

name = sys.argv[1]
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 10
warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 3
threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(0)

# torch's linear algebra and slow_conv_transpose2d go through the system OpenBLAS (pthread
# build), which torch.set_num_threads does not reach. With torch's OpenMP pool on every
# core, OpenBLAS's own threads oversubscribe them: its training steps measured 1.2-2x
# faster with OpenBLAS on one thread (docs/performance.md), so that is the default here.
# BENCH_TORCH_BLAS_THREADS overrides it.
blas_threads = int(os.environ.get("BENCH_TORCH_BLAS_THREADS", "1"))
blas_core = "?"
for lib in ("libopenblas.so.0", "libblas.so.3"):
    try:
        ob = ctypes.CDLL(lib)
        ob.openblas_set_num_threads(blas_threads)
        ob.openblas_get_corename.restype = ctypes.c_char_p
        blas_core = ob.openblas_get_corename().decode()
        break
    except (OSError, AttributeError):
        continue


def adam(params, lr, b1, b2):
    return torch.optim.Adam(params, lr=lr, betas=(b1, b2))


def init_dcgan(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_G(size, nc, ngf):
    stages = {16: 2, 32: 3, 64: 4}[size]
    ch = ngf * 2 ** (stages - 1)
    layers = [nn.ConvTranspose2d(100, ch, 4, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
    for _ in range(stages - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers).apply(init_dcgan)


def dcgan_D(size, nc, ndf, norm=True):
    stages = {16: 2, 32: 3, 64: 4}[size]
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    ch = ndf
    for _ in range(stages - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not norm)]
        ch *= 2
        if norm:
            layers += [nn.BatchNorm2d(ch)]
        layers += [nn.LeakyReLU(0.2)]
    layers += [nn.Conv2d(ch, 1, 4, bias=False), nn.Flatten(0)]
    return nn.Sequential(*layers).apply(init_dcgan)


def dcgan(size, nc, nf):
    G, D = dcgan_G(size, nc, nf), dcgan_D(size, nc, nf)
    oG, oD = adam(G.parameters(), 2e-4, 0.5, 0.999), adam(D.parameters(), 2e-4, 0.5, 0.999)
    real = torch.rand(64, nc, size, size) * 2 - 1
    bce = F.binary_cross_entropy_with_logits

    def step():
        z = torch.randn(64, 100, 1, 1)
        oD.zero_grad()
        fake = G(z)
        dr, df = D(real), D(fake.detach())
        loss_d = bce(dr, torch.ones_like(dr)) + bce(df, torch.zeros_like(df))
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        dg = D(fake)
        bce(dg, torch.ones_like(dg)).backward()
        oG.step()
    return step


class ResnetBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x):
        return x + self.body(x)


def init_cyclegan(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0, 0.02)
        nn.init.zeros_(m.bias)


def resnet_G(ngf, n_blocks):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU()]
    ch = ngf
    for _ in range(2):
        layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1), nn.InstanceNorm2d(ch * 2), nn.ReLU()]
        ch *= 2
    layers += [ResnetBlock(ch) for _ in range(n_blocks)]
    for _ in range(2):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers).apply(init_cyclegan)


def patch_D(ndf, n_layers=3):
    layers = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    ch = ndf
    for n in range(1, n_layers + 1):
        out = ndf * min(2 ** n, 8)
        layers += [nn.Conv2d(ch, out, 4, 2 if n < n_layers else 1, 1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2)]
        ch = out
    layers += [nn.Conv2d(ch, 1, 4, 1, 1)]
    return nn.Sequential(*layers).apply(init_cyclegan)


class ImagePool:
    """The CycleGAN image history: size 50, a stored image replaces the query with p 0.5."""

    def __init__(self, size, seed):
        self.size, self.images, self.rng = size, [], random.Random(seed)

    def query(self, batch):
        out = []
        for img in batch.detach():
            img = img.clone()
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() < 0.5:
                j = self.rng.randrange(self.size)
                out.append(self.images[j])
                self.images[j] = img
            else:
                out.append(img)
        return torch.stack(out)


def cyclegan64():
    G_AB, G_BA = resnet_G(32, 6), resnet_G(32, 6)
    D_A, D_B = patch_D(32), patch_D(32)
    oG = adam(list(G_AB.parameters()) + list(G_BA.parameters()), 2e-4, 0.5, 0.999)
    oD = adam(list(D_A.parameters()) + list(D_B.parameters()), 2e-4, 0.5, 0.999)
    pool_A, pool_B = ImagePool(50, 1), ImagePool(50, 2)
    A = torch.rand(1, 3, 64, 64) * 2 - 1
    B = torch.rand(1, 3, 64, 64) * 2 - 1

    def mse(x, v):
        return F.mse_loss(x, torch.full_like(x, v))

    def step():
        oG.zero_grad()
        fake_B, fake_A = G_AB(A), G_BA(B)
        rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
        idt_A, idt_B = G_AB(B), G_BA(A)
        loss_G = (mse(D_B(fake_B), 1) + mse(D_A(fake_A), 1)
                  + (F.l1_loss(rec_A, A) + F.l1_loss(rec_B, B)) * 10
                  + (F.l1_loss(idt_A, B) + F.l1_loss(idt_B, A)) * 5)
        loss_G.backward()
        oG.step()
        oD.zero_grad()
        fB, fA = pool_B.query(fake_B), pool_A.query(fake_A)
        loss_D = (mse(D_B(B), 1) + mse(D_B(fB), 0)) * 0.5 + (mse(D_A(A), 1) + mse(D_A(fA), 0)) * 0.5
        loss_D.backward()
        oD.step()
    return step


def wgan_gp32():
    G, D = dcgan_G(32, 1, 32), dcgan_D(32, 1, 32, norm=False)
    oD = adam(D.parameters(), 1e-4, 0.0, 0.9)
    real = torch.rand(64, 1, 32, 32) * 2 - 1

    def step():
        with torch.no_grad():
            fake = G(torch.randn(64, 100, 1, 1))
        oD.zero_grad()
        a = torch.rand(64, 1, 1, 1)
        xh = (a * real + (1 - a) * fake).requires_grad_()
        g, = torch.autograd.grad(D(xh).sum(), xh, create_graph=True)
        gp = ((g.reshape(64, -1).norm(2, dim=1) - 1) ** 2).mean() * 10
        loss = D(fake).mean() - D(real).mean() + gp
        loss.backward()
        oD.step()
    return step


cases = {"dcgan32": lambda: dcgan(32, 1, 32), "dcgan64": lambda: dcgan(64, 3, 64),
         "cyclegan64": cyclegan64, "wgan_gp32": wgan_gp32}
bf16 = name.endswith("_bf16")
step = cases[name[:-5] if bf16 else name]()
if bf16:
    fp32_step = step

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fp32_step()
for _ in range(warmup):
    step()
samples = []
for _ in range(iters):
    t0 = time.perf_counter()
    step()
    samples.append((time.perf_counter() - t0) * 1000)
s = sorted(samples)
n = len(s)
med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
print("case %s median_ms %.3f min_ms %.3f max_ms %.3f iters %d samples %s" % (
    name, med, s[0], s[-1], n, ",".join("%.2f" % v for v in samples)))
print("mem %s peak_rss_mb %.1f" % (name, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
print("info torch_version %s, mkldnn %s" % (torch.__version__, torch.backends.mkldnn.is_available()))
print("info torch_blas OpenBLAS %s, threads %d (torch %d)" % (blas_core, blas_threads, threads))
