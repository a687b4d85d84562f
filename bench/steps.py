"""PyTorch side of the training-step benchmark (bench/run.sh runs it next to steps.lua).

    /usr/bin/python3 bench/steps.py CASE [iters] [warmup]

The same cases, networks, losses, optimizers and batch as bench/steps.lua (read its header);
the same output lines. One case per process, so that the peak resident memory
(ru_maxrss) is the case's own.
"""
import ctypes
import ctypes.util
import math
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
    stages = size.bit_length() - 3   # 16: 2, 32: 3, 64: 4, 128: 5
    ch = ngf * 2 ** (stages - 1)
    layers = [nn.ConvTranspose2d(100, ch, 4, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
    for _ in range(stages - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers).apply(init_dcgan)


def dcgan_D(size, nc, ndf, norm=True):
    stages = size.bit_length() - 3   # 16: 2, 32: 3, 64: 4, 128: 5
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


def dcgan(size, nc, nf, batch=64):
    G, D = dcgan_G(size, nc, nf), dcgan_D(size, nc, nf)
    oG, oD = adam(G.parameters(), 2e-4, 0.5, 0.999), adam(D.parameters(), 2e-4, 0.5, 0.999)
    real = torch.rand(batch, nc, size, size) * 2 - 1
    bce = F.binary_cross_entropy_with_logits

    def step():
        z = torch.randn(batch, 100, 1, 1)
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


def patch_D(ndf, n_layers=3, in_nc=3):
    layers = [nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
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


class Frozen:
    """The update site's `freeze`: net's parameters do not require grad inside the scope."""

    def __init__(self, net):
        self.net = net

    def __enter__(self):
        self.net.requires_grad_(False)

    def __exit__(self, *exc):
        self.net.requires_grad_(True)


def bce_real(x):
    return F.binary_cross_entropy_with_logits(x, torch.ones_like(x))


def bce_fake(x):
    return F.binary_cross_entropy_with_logits(x, torch.zeros_like(x))


# ---------------------------------------------------------------- BigGAN (biggan32)

def ortho_sn(m):
    """BigGAN's layers: orthogonal weight, zero bias, spectral norm."""
    nn.init.orthogonal_(m.weight)
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)
    return nn.utils.spectral_norm(m)


class CondBatchNorm(nn.Module):
    """Batch norm without affine; gain 1 + Linear(c) and bias Linear(c), both SN."""

    def __init__(self, ch, cond):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gain = ortho_sn(nn.Linear(cond, ch, bias=False))
        self.beta = ortho_sn(nn.Linear(cond, ch, bias=False))

    def forward(self, x, c):
        n = x.shape[0]
        return self.bn(x) * (self.gain(c) + 1).view(n, -1, 1, 1) + self.beta(c).view(n, -1, 1, 1)


class ResBlockUp(nn.Module):
    def __init__(self, cin, cout, cond):
        super().__init__()
        self.bn1, self.bn2 = CondBatchNorm(cin, cond), CondBatchNorm(cout, cond)
        self.conv1 = ortho_sn(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = ortho_sn(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = ortho_sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x, c):
        h = self.conv1(F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2))
        h = self.conv2(F.relu(self.bn2(h, c)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class ResBlockDown(nn.Module):
    def __init__(self, cin, cout, first=False, downsample=True):
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = ortho_sn(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = ortho_sn(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = ortho_sn(nn.Conv2d(cin, cout, 1)) if cin != cout or downsample else None

    def pool(self, x):
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.pool(self.conv2(F.relu(self.conv1(h))))
        s = x
        if self.skip is not None:
            s = self.skip(self.pool(x)) if self.first else self.pool(self.skip(x))
        return h + s


class SelfAttention(nn.Module):
    """SAGAN/BigGAN attention over max-pooled keys and values (C/8, C/8, C/2 channels)."""

    def __init__(self, ch):
        super().__init__()
        self.query = ortho_sn(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.key = ortho_sn(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.value = ortho_sn(nn.Conv2d(ch, ch // 2, 1, bias=False))
        self.out = ortho_sn(nn.Conv2d(ch // 2, ch, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, _, h, w = x.shape
        k = F.max_pool2d(self.key(x), 2).reshape(n, -1, h * w // 4)
        v = F.max_pool2d(self.value(x), 2).reshape(n, -1, h * w // 4)
        q = self.query(x).reshape(n, -1, h * w)
        attn = F.softmax(torch.bmm(q.transpose(1, 2), k), dim=2)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(n, -1, h, w)
        return self.out(out) * self.gamma + x


class BigGANGenerator(nn.Module):
    """Shared embedding, hierarchical z, residual up blocks, attention after block 2."""

    def __init__(self, nz=128, n_classes=10, ch=32, nc=1, shared_dim=128, n_blocks=3, attn_after=1):
        super().__init__()
        widths = [ch * 2 ** (3 - min(i, 3)) for i in range(n_blocks + 1)]
        self.chunk, self.attn_after = nz // (n_blocks + 1), attn_after
        self.shared = nn.Embedding(n_classes, shared_dim)
        nn.init.orthogonal_(self.shared.weight)
        self.linear = ortho_sn(nn.Linear(self.chunk, 16 * widths[0]))
        cond = shared_dim + self.chunk
        self.blocks = nn.ModuleList(ResBlockUp(widths[i], widths[i + 1], cond) for i in range(n_blocks))
        self.attn = SelfAttention(widths[attn_after + 1])
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = ortho_sn(nn.Conv2d(widths[-1], nc, 3, padding=1))

    def forward(self, z, y):
        n, c = z.shape[0], self.chunk
        e = self.shared(y)
        h = self.linear(z[:, :c]).view(n, -1, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, torch.cat([e, z[:, (i + 1) * c:(i + 2) * c]], 1))
            if i == self.attn_after:
                h = self.attn(h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class BigGANDiscriminator(nn.Module):
    """Residual down blocks, attention after block 1, projection head."""

    def __init__(self, n_classes=10, ch=32, nc=1, n_blocks=3, attn_after=0):
        super().__init__()
        widths = [nc] + [ch * 2 ** min(i, 3) for i in range(n_blocks)]
        self.attn_after = attn_after
        self.blocks = nn.ModuleList(ResBlockDown(widths[i], widths[i + 1], first=i == 0) for i in range(n_blocks))
        self.attn = SelfAttention(widths[attn_after + 1])
        feat = widths[-1] * 2
        self.last = ResBlockDown(widths[-1], feat, downsample=False)
        self.linear = ortho_sn(nn.Linear(feat, 1))
        self.embed = ortho_sn(nn.Embedding(n_classes, feat))

    def forward(self, x, y):
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == self.attn_after:
                h = self.attn(h)
        h = F.relu(self.last(h)).sum((2, 3))
        return self.linear(h).reshape(x.shape[0]) + (self.embed(y) * h).sum(1)


def biggan32():
    G, D = BigGANGenerator(), BigGANDiscriminator()
    oG, oD = adam(G.parameters(), 1e-4, 0.0, 0.999), adam(D.parameters(), 4e-4, 0.0, 0.999)
    # the orthogonal regularisation's weights: every matrix of G but the class embedding
    ortho = [p for name, p in G.named_parameters() if p.dim() >= 2 and not name.startswith("shared.")]
    real, y_real = torch.rand(64, 1, 32, 32) * 2 - 1, torch.randint(0, 10, (64,))

    def ortho_reg(beta):   # as gan.nn.utils.orthogonal_regularization: W^T W for a tall W
        total = 0
        for w in ortho:
            m = w.reshape(w.shape[0], -1)
            if m.shape[0] > m.shape[1]:
                total = total + ((m.t() @ m) ** 2).sum() - ((m * m).sum(1) ** 2).sum()
            else:
                total = total + ((m @ m.t() * (1 - torch.eye(m.shape[0]))) ** 2).sum()
        return total * beta

    def step():
        y_fake = torch.randint(0, 10, (64,))
        with torch.no_grad():
            fake = G(torch.randn(64, 128), y_fake)
        oD.zero_grad()
        s = D(torch.cat([real, fake]), torch.cat([y_real, y_fake]))
        loss_d = F.relu(1 - s[:64]).mean() + F.relu(1 + s[64:]).mean()
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        with Frozen(D):
            y = torch.randint(0, 10, (64,))
            loss = -D(G(torch.randn(64, 128), y), y).mean() + ortho_reg(1e-4)
            loss.backward()
        oG.step()
    return step


# ---------------------------------------------------------------- StyleGAN (stylegan32)

class EqualLinear(nn.Module):
    def __init__(self, fin, fout, bias=True, bias_init=0.0, lr_mul=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fout, fin) / lr_mul)
        self.bias = nn.Parameter(torch.full((fout,), float(bias_init))) if bias else None
        self.scale, self.lr_mul = lr_mul / math.sqrt(fin), lr_mul

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, None if self.bias is None else self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    def __init__(self, cin, cout, k, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.padding = 1 / math.sqrt(cin * k * k), padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """conv(x * s, w) * d: the per-sample modulated, demodulated weight without forming it."""

    def __init__(self, cin, cout, k, w_dim, demodulate=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.scale, self.padding, self.demodulate = 1 / math.sqrt(cin * k * k), k // 2, demodulate
        self.style = EqualLinear(w_dim, cin, bias_init=1.0)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x, w):
        n = x.shape[0]
        s = self.style(w)
        weight = self.weight * self.scale
        y = F.conv2d(x * s.view(n, -1, 1, 1), weight, padding=self.padding)
        if self.demodulate:
            d = torch.rsqrt((s * s) @ (weight * weight).sum((2, 3)).t() + 1e-8)
            y = y * d.view(n, -1, 1, 1)
        return y + self.bias.view(1, -1, 1, 1)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution, per-channel weighted noise, leaky ReLU."""

    def __init__(self, cin, cout, w_dim):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim)
        self.noise_weight = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x, w):
        y = self.conv(x, w)
        noise = torch.randn(y.shape[0], 1, y.shape[2], y.shape[3])
        return F.leaky_relu(y + self.noise_weight * noise, 0.2)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(1, keepdim=True) + 1e-8)


def up2(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class StyleGANGenerator(nn.Module):
    def __init__(self, ch, nz=128, w_dim=128, n_mlp=8, lr_mul=0.01, nc=1):
        super().__init__()
        self.top, self.w_dim = len(ch) - 1, w_dim
        layers = [PixelNorm()]
        for i in range(n_mlp):
            layers += [EqualLinear(nz if i == 0 else w_dim, w_dim, lr_mul=lr_mul), nn.LeakyReLU(0.2)]
        self.map = nn.Sequential(*layers)
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))
        self.convs = nn.ModuleList([StyledConv(ch[0], ch[0], w_dim)])
        self.to_rgb = nn.ModuleList([ModulatedConv2d(ch[0], nc, 1, w_dim, demodulate=False)])
        for lv in range(1, self.top + 1):
            self.convs.extend([StyledConv(ch[lv - 1], ch[lv], w_dim), StyledConv(ch[lv], ch[lv], w_dim)])
            self.to_rgb.append(ModulatedConv2d(ch[lv], nc, 1, w_dim, demodulate=False))
        self.num_ws = 1 + 2 * self.top
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def mapping(self, z):
        return self.map(z)

    def broadcast(self, w1, w2, cutoff):
        """Layers 1 .. cutoff - 1 (1-based) take w1, the rest w2."""
        n, k = w1.shape[0], self.num_ws
        a = w1[:, None].expand(n, cutoff - 1, self.w_dim)
        return torch.cat([a, w2[:, None].expand(n, k - cutoff + 1, self.w_dim)], 1)

    def synthesis(self, ws):
        x = self.const.expand(ws.shape[0], -1, 4, 4)
        x = self.convs[0](x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 0])
        for lv in range(1, self.top + 1):
            i = 2 * lv - 1
            x = self.convs[i](up2(x), ws[:, i])
            x = self.convs[i + 1](x, ws[:, i + 1])
            rgb = up2(rgb) + self.to_rgb[lv](x, ws[:, i + 1])
        return rgb


class MinibatchStdDev(nn.Module):
    def __init__(self, group):
        super().__init__()
        self.group = group

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group, n)
        std = torch.sqrt(x.reshape(g, n // g, c, h, w).var(0, unbiased=False) + 1e-8)
        s = std.mean((1, 2, 3)).reshape(1, n // g, 1, 1, 1).expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, s], 1)


class StyleGANDBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3, padding=1)
        self.conv2 = EqualConv2d(cin, cout, 3, padding=1)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        h = F.avg_pool2d(F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2), 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class StyleGANDiscriminator(nn.Module):
    def __init__(self, ch, nc=1, mbstd_group=4):
        super().__init__()
        top = len(ch) - 1
        self.from_rgb = EqualConv2d(nc, ch[top], 1)
        self.blocks = nn.Sequential(*[StyleGANDBlock(ch[lv], ch[lv - 1]) for lv in range(top, 0, -1)])
        self.final = nn.Sequential(
            MinibatchStdDev(mbstd_group), EqualConv2d(ch[0] + 1, ch[0], 3, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten(), EqualLinear(ch[0] * 16, ch[0]), nn.LeakyReLU(0.2), EqualLinear(ch[0], 1))

    def forward(self, x):
        return self.final(self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))).reshape(x.shape[0])


def stylegan32():
    ch = [min(64, 1024 // (4 * 2 ** lv)) for lv in range(4)]   # 64, 64, 64, 32
    G, D = StyleGANGenerator(ch), StyleGANDiscriminator(ch)
    oG, oD = adam(G.parameters(), 2e-3, 0.0, 0.99), adam(D.parameters(), 2e-3, 0.0, 0.99)
    real = torch.rand(32, 1, 32, 32) * 2 - 1

    def mixed_ws(track):
        w1 = G.mapping(torch.randn(32, 128))
        if track:
            with torch.no_grad():
                G.w_avg.copy_(G.w_avg * 0.995 + w1.detach().mean(0) * (1 - 0.995))
        return G.broadcast(w1, G.mapping(torch.randn(32, 128)), 4)

    def step():
        with torch.no_grad():
            fake = G.synthesis(mixed_ws(False))
        oD.zero_grad()
        x = real.detach().requires_grad_()
        g, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        r1 = (g * g).reshape(32, -1).sum(1).mean() * (16 * 0.5)
        loss = bce_real(D(real)) + bce_fake(D(fake)) + r1
        loss.backward()
        oD.step()
        oG.zero_grad()
        with Frozen(D):
            bce_real(D(G.synthesis(mixed_ws(True)))).backward()
        oG.step()
    return step


# ---------------------------------------------------------------- pix2pix (pix2pix64)

class UnetBlock(nn.Module):
    def __init__(self, outer, inner, in_nc=None, sub=None, outermost=False, innermost=False, dropout=False):
        super().__init__()
        in_nc = in_nc or outer
        self.outermost = outermost
        conv = nn.Conv2d(in_nc, inner, 4, 2, 1)
        if outermost:
            down, up = [conv], [nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            down = [nn.LeakyReLU(0.2), conv]
            up = [nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1), nn.InstanceNorm2d(outer)]
        else:
            down = [nn.LeakyReLU(0.2), conv, nn.InstanceNorm2d(inner)]
            up = [nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.InstanceNorm2d(outer)]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.down, self.sub, self.up = nn.Sequential(*down), sub, nn.Sequential(*up)

    def forward(self, x):
        h = self.down(x)
        if self.sub is not None:
            h = self.sub(h)
        y = self.up(h)
        return y if self.outermost else torch.cat([x, y], 1)


def unet_G(in_nc, out_nc, ngf, n_downs, dropout):
    blk = UnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(n_downs - 5):
        blk = UnetBlock(ngf * 8, ngf * 8, sub=blk, dropout=dropout)
    blk = UnetBlock(ngf * 4, ngf * 8, sub=blk)
    blk = UnetBlock(ngf * 2, ngf * 4, sub=blk)
    blk = UnetBlock(ngf, ngf * 2, sub=blk)
    return UnetBlock(out_nc, ngf, in_nc=in_nc, sub=blk, outermost=True).apply(init_cyclegan)


def pix2pix64():
    G = unet_G(1, 3, 32, 6, dropout=True)
    D = patch_D(32, in_nc=4)
    oG, oD = adam(G.parameters(), 2e-4, 0.5, 0.999), adam(D.parameters(), 2e-4, 0.5, 0.999)
    x = torch.rand(8, 1, 64, 64) * 2 - 1
    y = torch.rand(8, 3, 64, 64) * 2 - 1

    def step():
        with torch.no_grad():
            fake = G(x)
        oD.zero_grad()
        loss_d = (bce_real(D(torch.cat([x, y], 1))) + bce_fake(D(torch.cat([x, fake], 1)))) * 0.5
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        with Frozen(D):
            out = G(x)
            loss = bce_real(D(torch.cat([x, out], 1))) + (out - y).abs().mean() * 100
            loss.backward()
        oG.step()
    return step


# ---------------------------------------------------------------- SRGAN (srgan)

class SRResBlock(nn.Module):
    def __init__(self, nf):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf), nn.PReLU(nf),
                                  nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf))

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    def __init__(self, nc=3, nf=64, n_blocks=8, scale=4):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(nc, nf, 9, padding=4), nn.PReLU(nf))
        self.body = nn.Sequential(*[SRResBlock(nf) for _ in range(n_blocks)],
                                  nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf))
        up = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(nf, 4 * nf, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(nf)]
        self.up = nn.Sequential(*up, nn.Conv2d(nf, nc, 9, padding=4), nn.Tanh())

    def forward(self, lr):
        h = self.head(lr)
        return self.up(h + self.body(h))


def srgan_D(nc=3, ndf=32, size=64):
    layers, c, halvings = [nn.Conv2d(nc, ndf, 3, padding=1), nn.LeakyReLU(0.2)], ndf, 0

    def add(cin, cout, stride):
        layers.extend([nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)])
    while size > 4 and halvings < 4:
        add(c, c, 2)
        size, halvings = size // 2, halvings + 1
        if size > 4 and halvings < 4:
            add(c, 2 * c, 1)
            c *= 2
    layers += [nn.Flatten(), nn.Linear(c * size * size, 16 * ndf), nn.LeakyReLU(0.2), nn.Linear(16 * ndf, 1),
               nn.Flatten(0)]
    return nn.Sequential(*layers)


def srgan():
    G, D = SRResNet(), srgan_D()
    oG, oD = adam(G.parameters(), 1e-4, 0.9, 0.999), adam(D.parameters(), 1e-4, 0.9, 0.999)
    hr = torch.rand(16, 3, 64, 64) * 2 - 1

    def step():
        lr = F.avg_pool2d(hr, 4)
        with torch.no_grad():
            fake = G(lr)
        oD.zero_grad()
        loss_d = bce_real(D(hr)) + bce_fake(D(fake))
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        with Frozen(D):
            out = G(lr)
            loss = F.mse_loss(out, hr) + bce_real(D(out)) * 1e-3
            loss.backward()
        oG.step()
    return step


# ---------------------------------------------------------------- PixelCNN (pixelcnn)

class MaskedConv2d(nn.Conv2d):
    """Taps right of the centre and below it zero; the centre too for mask "A"."""

    def __init__(self, cin, cout, k, mask):
        super().__init__(cin, cout, k, padding=k // 2)
        m = torch.zeros(k, k)
        m[:k // 2] = 1
        m[k // 2, :k // 2 + (mask == "B")] = 1
        self.register_buffer("mask", m.view(1, 1, k, k))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNBlock(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * h, h, 1), nn.ReLU(), MaskedConv2d(h, h, 3, "B"),
                                  nn.ReLU(), nn.Conv2d(h, 2 * h, 1))

    def forward(self, x):
        return x + self.body(x)


def pixelcnn_step(net):
    """One Adam step (1e-3, betas 0.9, 0.999) on the mean NLL of 64 binary 28x28 images."""
    opt = adam(net.parameters(), 1e-3, 0.9, 0.999)
    x = (torch.rand(64, 1, 28, 28) > 0.5).float()

    def step():
        opt.zero_grad()
        nll = F.binary_cross_entropy_with_logits(net(x), x, reduction="none").flatten(1).sum(1)
        nll.mean().backward()
        opt.step()
    return step


def pixelcnn():
    h = 32
    return pixelcnn_step(nn.Sequential(MaskedConv2d(1, 2 * h, 7, "A"), *[PixelCNNBlock(h) for _ in range(6)],
                                       nn.ReLU(), nn.Conv2d(2 * h, h, 1), nn.ReLU(), nn.Conv2d(h, 1, 1)))


# ---------------------------------------------------------------- gated PixelCNN (gated_pixelcnn)

def gate(x):
    a, b = x.chunk(2, 1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """gan.models.gated_pixelcnn's layer: a vertical stack over the rows above (and the
    current one, shifted down before it reaches the horizontal stack), a horizontal stack
    over the row to the left, each gated; a residual connection after the first layer."""

    def __init__(self, cin, h, k, first):
        super().__init__()
        self.k, self.first = k, first
        self.v = nn.Conv2d(cin, 2 * h, (k // 2 + 1, k))
        self.v_to_h = nn.Conv2d(2 * h, 2 * h, 1)
        self.h = nn.Conv2d(cin, 2 * h, (1, k // 2 + 1))
        self.h_out = nn.Conv2d(h, h, 1)

    def forward(self, v, hx):
        k = self.k
        vf = self.v(F.pad(v, (k // 2, k // 2, k // 2, 0)))
        hin = F.pad(hx, (1, 0, 0, 0))[:, :, :, :hx.shape[3]] if self.first else hx
        down = F.pad(vf, (0, 0, 1, 0))[:, :, :vf.shape[2]]
        hf = self.h(F.pad(hin, (k // 2, 0, 0, 0))) + self.v_to_h(down)
        h_new = self.h_out(gate(hf))
        if not self.first:
            h_new = h_new + hx
        return gate(vf), h_new


class GatedPixelCNN(nn.Module):
    def __init__(self, h=32, layers=7):
        super().__init__()
        self.layers = nn.ModuleList([GatedLayer(1, h, 7, True)] + [GatedLayer(h, h, 3, False) for _ in range(layers - 1)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(h, h, 1), nn.ReLU(), nn.Conv2d(h, 1, 1))

    def forward(self, x):
        v, hx = x, x
        for layer in self.layers:
            v, hx = layer(v, hx)
        return self.out(hx)


def gated_pixelcnn():
    return pixelcnn_step(GatedPixelCNN())


# ---------------------------------------------------------------- 3D-GAN (gan3d)

def gan3d():
    c = 32
    G = nn.Sequential(
        nn.Unflatten(1, (200, 1, 1, 1)),
        nn.ConvTranspose3d(200, 4 * c, 4), nn.BatchNorm3d(4 * c), nn.ReLU(),
        nn.ConvTranspose3d(4 * c, 2 * c, 4, 2, 1), nn.BatchNorm3d(2 * c), nn.ReLU(),
        nn.ConvTranspose3d(2 * c, c, 4, 2, 1), nn.BatchNorm3d(c), nn.ReLU(),
        nn.ConvTranspose3d(c, 1, 4, 2, 1), nn.Sigmoid())
    D = nn.Sequential(
        nn.Conv3d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv3d(c, 2 * c, 4, 2, 1), nn.BatchNorm3d(2 * c), nn.LeakyReLU(0.2),
        nn.Conv3d(2 * c, 4 * c, 4, 2, 1), nn.BatchNorm3d(4 * c), nn.LeakyReLU(0.2),
        nn.Conv3d(4 * c, 1, 4), nn.Flatten(0))
    oG, oD = adam(G.parameters(), 0.0025, 0.5, 0.999), adam(D.parameters(), 1e-3, 0.5, 0.999)
    real = (torch.rand(32, 1, 32, 32, 32) > 0.5).float()

    def step():
        z = torch.randn(32, 200)
        with torch.no_grad():
            fake = G(z)
            dr, df = D(real), D(fake)
            ((dr > 0).double().sum().item() + (df < 0).double().sum().item()) / 64   # D's accuracy
        oD.zero_grad()
        loss_d = bce_real(D(real)) + bce_fake(D(fake))
        loss_d.backward()
        oD.step()
        oG.zero_grad()
        with Frozen(D):
            bce_real(D(G(z))).backward()
        oG.step()
    return step


cases = {"dcgan32": lambda: dcgan(32, 1, 32), "dcgan64": lambda: dcgan(64, 3, 64),
         "cyclegan64": cyclegan64, "wgan_gp32": wgan_gp32, "biggan32": biggan32, "stylegan32": stylegan32,
         "pix2pix64": pix2pix64, "srgan": srgan, "pixelcnn": pixelcnn, "gated_pixelcnn": gated_pixelcnn,
         "gan3d": gan3d}
bf16 = name.endswith("_bf16")
base = name[:-5] if bf16 else name
if base.startswith("dcgan_s"):   # dcgan_s<S>_b<B>: the grid of bench/scaling.sh
    size, batch = (int(v) for v in base[len("dcgan_s"):].split("_b"))
    cases[base] = lambda: dcgan(size, 3, 64, batch)
step = cases[base]()
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
