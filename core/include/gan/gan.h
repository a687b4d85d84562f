// gancore: the C compute core of gan. One include for all of it.
#ifndef GAN_GAN_H
#define GAN_GAN_H
#include "gan/error.h"
#include "gan/alloc.h"
#include "gan/parallel.h"
#include "gan/flops.h"
#include "gan/tensor.h"
#include "gan/ops.h"
#include "gan/random.h"
#include "gan/autograd.h"
#include "gan/conv.h"
#include "gan/precision.h"
#include "gan/optim.h"
#include "gan/io.h"
#include "gan/image.h"
#include "gan/draw.h"
#endif
