// Tensors: creation, refcounting, views, copies, dtype conversion, broadcasting, errors.
#include "testutil.h"

// ---- creation

static void test_dtypes(void) {
    CHECK(strcmp(gan_dtype_name(GAN_FLOAT32), "float32") == 0);
    CHECK(strcmp(gan_dtype_name(GAN_FLOAT64), "float64") == 0);
    CHECK(strcmp(gan_dtype_name(GAN_INT64), "int64") == 0);
    CHECK(gan_dtype_size(GAN_FLOAT32) == 4 && gan_dtype_size(GAN_FLOAT64) == 8 &&
          gan_dtype_size(GAN_INT64) == 8);
    gan_dtype dt = GAN_INT64;
    CHECK_OK(gan_dtype_from_name(&dt, "float64"));
    CHECK(dt == GAN_FLOAT64);
    CHECK_OK(gan_dtype_from_name(&dt, "float"));
    CHECK(dt == GAN_FLOAT32);
    CHECK_OK(gan_dtype_from_name(&dt, "long"));
    CHECK(dt == GAN_INT64);
    CHECK_ERR(gan_dtype_from_name(&dt, "float16"), "unknown dtype 'float16'");
    CHECK(gan_dtype_is_float(GAN_FLOAT32) && !gan_dtype_is_float(GAN_INT64));
    gan_tensor *t;
    CHECK_ERR(gan_empty(&t, (gan_dtype)7, 1, I64(2)), "invalid dtype");
}

static void test_shape_str(void) {
    char b[GAN_SHAPE_BUF];
    CHECK(strcmp(gan_shape_str(b, sizeof b, 2, I64(2, 3)), "(2, 3)") == 0);
    CHECK(strcmp(gan_shape_str(b, sizeof b, 1, I64(4)), "(4,)") == 0);
    CHECK(strcmp(gan_shape_str(b, sizeof b, 0, NULL), "()") == 0);
    // Truncates instead of overflowing a short buffer.
    char small[8];
    gan_shape_str(small, sizeof small, 4, I64(1000, 2000, 3000, 4000));
    CHECK(strlen(small) == 7);
    int64_t many[GAN_MAX_DIMS];
    for (int i = 0; i < GAN_MAX_DIMS; i++) many[i] = INT64_MAX;
    gan_shape_str(b, sizeof b, GAN_MAX_DIMS, many);   // longer than the buffer
    CHECK(strlen(b) == sizeof b - 1);
}

static void test_empty_zeros_full(void) {
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 3, I64(2, 3, 4)));
    CHECK_SHAPE(t, 3, 2, 3, 4);
    CHECK(t->stride[0] == 12 && t->stride[1] == 4 && t->stride[2] == 1);
    CHECK(t->offset == 0 && t->refcount == 1 && t->storage->refcount == 1);
    CHECK(t->storage->nbytes == 24 * 4);
    CHECK(gan_numel(t) == 24 && gan_is_contiguous(t));
    gan_tensor_release(t);

    CHECK_OK(gan_zeros(&t, GAN_INT64, 2, I64(3, 5)));
    CHECK_EQ_LIST(t, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    gan_tensor_release(t);

    for (int dt = 0; dt < GAN_NUM_DTYPES; dt++) {
        CHECK_OK(gan_full(&t, (gan_dtype)dt, 2, I64(2, 2), -3.0));
        CHECK_EQ_LIST(t, -3, -3, -3, -3);
        gan_tensor_release(t);
    }
    CHECK_OK(gan_full(&t, GAN_FLOAT32, 1, I64(3), 0.1));
    CHECK(gan_get(t, I64(2)) == (double)0.1f);
    gan_tensor_release(t);

    // 0-d: one element, no dims.
    CHECK_OK(gan_full(&t, GAN_FLOAT64, 0, NULL, 2.5));
    CHECK(t->ndim == 0 && gan_numel(t) == 1 && gan_is_contiguous(t));
    double v = 0;
    CHECK_OK(gan_item(&v, t));
    CHECK(v == 2.5);
    gan_tensor_release(t);

    // Empty tensors (a zero-size dim) are fine.
    CHECK_OK(gan_zeros(&t, GAN_FLOAT32, 3, I64(2, 0, 3)));
    CHECK(gan_numel(t) == 0);
    CHECK(gan_is_contiguous(t));   // empty tensors count as contiguous, as in PyTorch
    gan_tensor *same;
    CHECK_OK(gan_contiguous(&same, t));
    CHECK(same == t);
    gan_tensor_release(same);
    CHECK_ERR(gan_item(&v, t), "item: tensor of shape (2, 0, 3) has 0 elements");
    gan_tensor_release(t);
}

static void test_creation_errors(void) {
    gan_tensor *t = NULL;
    CHECK_ERR(gan_empty(&t, GAN_FLOAT32, 2, I64(3, -2)), "empty: negative size -2 in dim 1");
    CHECK_ERR(gan_zeros(&t, GAN_FLOAT32, 1, I64(-1)), "negative size -1");
    CHECK_ERR(gan_full(&t, GAN_FLOAT32, 1, I64(-1), 1.0), "negative size -1");
    int64_t size[GAN_MAX_DIMS + 1];
    for (int i = 0; i <= GAN_MAX_DIMS; i++) size[i] = 1;
    CHECK_ERR(gan_empty(&t, GAN_FLOAT32, GAN_MAX_DIMS + 1, size),
              "17 dims requested, at most 16 supported");
    CHECK_ERR(gan_empty(&t, GAN_FLOAT32, -1, size), "-1 dims requested");
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, GAN_MAX_DIMS, size));   // exactly the maximum
    CHECK(t->ndim == GAN_MAX_DIMS);
    gan_tensor_release(t);
    // Sizes whose product overflows are refused before allocating.
    CHECK_ERR(gan_empty(&t, GAN_FLOAT64, 3, I64((int64_t)1 << 40, (int64_t)1 << 40, 16)),
              "would overflow");
    // A zero-element tensor still has strides: huge sizes beside a zero are refused too
    // (the strides of (0, 2^62, 2^62) overflow int64).
    int64_t big = (int64_t)1 << 62;
    CHECK_ERR(gan_zeros(&t, GAN_FLOAT32, 3, I64(0, big, big)),
              "zeros: a tensor of shape (0, 4611686018427387904, 4611686018427387904) would overflow");
    CHECK_ERR(gan_full(&t, GAN_FLOAT32, 2, I64(big, 0), 1.0), "full: a tensor of shape");
    CHECK_OK(gan_zeros(&t, GAN_FLOAT32, 3, I64(0, (int64_t)1 << 29, (int64_t)1 << 29)));
    CHECK(t->stride[0] == (int64_t)1 << 58 && gan_numel(t) == 0);
    gan_tensor *v;
    // views of it whose strides would overflow
    CHECK_ERR(gan_view(&v, t, 3, I64(big, big, 0)), "view: a tensor of shape");
    CHECK_ERR(gan_reshape(&v, t, 2, I64(-1, big)), "reshape: a tensor of shape (0, 4611686018427387904) would overflow");
    CHECK_OK(gan_unsqueeze(&v, t, 0));
    gan_tensor_release(v);
    gan_tensor_release(t);
    CHECK_OK(gan_zeros(&t, GAN_FLOAT32, 2, I64(1, 1)));
    CHECK_ERR(gan_expand(&v, t, 3, I64(big, big, 1)), "expand: a tensor of shape");
    CHECK_ERR(gan_as_strided(&v, t, 2, I64(big, big), I64(0, 0), 0), "as_strided: a tensor of shape");
    gan_tensor_release(t);
    CHECK_ERR(gan_eye(&t, GAN_FLOAT32, -1, 3), "negative size -1");
    double x = 0;
    CHECK_ERR(gan_from_doubles(&t, GAN_FLOAT32, 1, I64(-4), &x), "negative size");
}

static void test_arange(void) {
    gan_tensor *t;
    CHECK_OK(gan_arange(&t, GAN_INT64, 0, 10, 3));
    CHECK_SHAPE(t, 1, 4);
    CHECK_EQ_LIST(t, 0, 3, 6, 9);
    gan_tensor_release(t);
    CHECK_OK(gan_arange(&t, GAN_FLOAT32, 1, 2, 0.25));
    CHECK_EQ_LIST(t, 1, 1.25, 1.5, 1.75);
    gan_tensor_release(t);
    CHECK_OK(gan_arange(&t, GAN_FLOAT64, 1, 0, -0.25));   // descending
    CHECK_EQ_LIST(t, 1, 0.75, 0.5, 0.25);
    gan_tensor_release(t);
    CHECK_OK(gan_arange(&t, GAN_FLOAT64, 0, 1, 0.1));     // 10 values, not 11
    CHECK(gan_numel(t) == 10);
    gan_tensor_release(t);
    CHECK_OK(gan_arange(&t, GAN_FLOAT64, 3, 3, 1));       // empty
    CHECK(gan_numel(t) == 0);
    gan_tensor_release(t);
    CHECK_ERR(gan_arange(&t, GAN_FLOAT32, 0, 5, 0), "non-zero step");
    CHECK_ERR(gan_arange(&t, GAN_FLOAT32, 0, INFINITY, 1), "need finite");
    CHECK_ERR(gan_arange(&t, GAN_FLOAT32, 0, 5, -1), "arange: step -1 goes away from end 5");
    CHECK_ERR(gan_arange(&t, GAN_FLOAT32, 0, 1e300, 1e-300), "arange");   // too many
}

static void test_linspace(void) {
    gan_tensor *t;
    CHECK_OK(gan_linspace(&t, GAN_FLOAT64, 0, 1, 5));
    CHECK_EQ_LIST(t, 0, 0.25, 0.5, 0.75, 1);
    gan_tensor_release(t);
    // Both endpoints exact even when the step is not representable.
    const double ends[][2] = {{0.1, 0.7}, {-1.3, 2.9}, {1e-3, 7.77}, {5.5, -0.3}};
    for (int e = 0; e < 4; e++) {
        for (int64_t steps = 2; steps < 40; steps += 7) {
            CHECK_OK(gan_linspace(&t, GAN_FLOAT64, ends[e][0], ends[e][1], steps));
            CHECK(gan_get(t, I64(0)) == ends[e][0]);
            CHECK(gan_get(t, I64(steps - 1)) == ends[e][1]);
            double d = (ends[e][1] - ends[e][0]) / (double)(steps - 1);
            bool ok = true;
            for (int64_t i = 0; i < steps; i++)
                ok &= fabs(gan_get(t, &i) - (ends[e][0] + d * (double)i)) < 1e-12;
            CHECK(ok);
            gan_tensor_release(t);
            CHECK_OK(gan_linspace(&t, GAN_FLOAT32, ends[e][0], ends[e][1], steps));
            CHECK(gan_get(t, I64(0)) == (double)(float)ends[e][0]);
            CHECK(gan_get(t, I64(steps - 1)) == (double)(float)ends[e][1]);
            gan_tensor_release(t);
        }
    }
    // One step gives start (as in PyTorch and NumPy); zero steps an empty tensor.
    CHECK_OK(gan_linspace(&t, GAN_FLOAT64, 3, 7, 1));
    CHECK_EQ_LIST(t, 3);
    gan_tensor_release(t);
    CHECK_OK(gan_linspace(&t, GAN_FLOAT64, 3, 7, 0));
    CHECK_SHAPE(t, 1, 0);
    gan_tensor_release(t);
    CHECK_OK(gan_linspace(&t, GAN_INT64, 0, 10, 6));
    CHECK_EQ_LIST(t, 0, 2, 4, 6, 8, 10);
    gan_tensor_release(t);
    CHECK_ERR(gan_linspace(&t, GAN_FLOAT32, 0, 1, -2), "linspace: steps must be >= 0, got -2");
}

static void test_eye_from_doubles(void) {
    gan_tensor *t;
    CHECK_OK(gan_eye(&t, GAN_FLOAT32, 2, 3));
    CHECK_SHAPE(t, 2, 2, 3);
    CHECK_EQ_LIST(t, 1, 0, 0, 0, 1, 0);
    gan_tensor_release(t);
    CHECK_OK(gan_eye(&t, GAN_INT64, 3, 2));
    CHECK_EQ_LIST(t, 1, 0, 0, 1, 0, 0);
    gan_tensor_release(t);
    const double v[] = {1.5, -2, 3.25, 4, 5, 6};
    CHECK_OK(gan_from_doubles(&t, GAN_FLOAT64, 2, I64(3, 2), v));
    CHECK_SHAPE(t, 2, 3, 2);
    CHECK(gan_get(t, I64(1, 0)) == 3.25);
    CHECK_VALUES(t, v, 0, 0, "from_doubles");
    gan_tensor_release(t);
    CHECK_OK(gan_from_doubles(&t, GAN_INT64, 1, I64(3), (double[]){-2.9, 2.9, 7}));
    CHECK_EQ_LIST(t, -2, 2, 7);   // truncation toward zero
    gan_tensor_release(t);
}

// ---- lifetime

static void test_refcounting(void) {
    gan_tensor *x, *v, *w;
    CHECK_OK(gan_arange(&x, GAN_FLOAT32, 0, 6, 1));
    CHECK(x->refcount == 1 && x->storage->refcount == 1);
    CHECK(gan_tensor_retain(x) == x);
    CHECK(x->refcount == 2);
    gan_tensor_release(x);
    CHECK(x->refcount == 1);
    CHECK_OK(gan_view(&v, x, 2, I64(2, 3)));
    CHECK(v != x && v->storage == x->storage && x->storage->refcount == 2);
    CHECK_OK(gan_transpose(&w, v, 0, 1));
    CHECK(w->storage->refcount == 3);
    // Views keep the storage alive after the base is gone (ASan would flag a stale read).
    gan_tensor_release(x);
    CHECK(v->storage->refcount == 2);
    CHECK(gan_get(v, I64(1, 2)) == 5);
    gan_tensor_release(v);
    CHECK(w->storage->refcount == 1);
    CHECK(gan_get(w, I64(2, 1)) == 5);
    gan_set(w, I64(0, 0), 42);
    CHECK(gan_get(w, I64(0, 0)) == 42);
    gan_tensor_release(w);
    gan_tensor_release(NULL);   // fine
    gan_tensor_release(gan_tensor_retain(NULL));
}

// ---- views

static void test_view(void) {
    gan_tensor *x, *v;
    CHECK_OK(gan_arange(&x, GAN_FLOAT64, 0, 24, 1));
    CHECK_OK(gan_view(&v, x, 3, I64(2, 3, 4)));
    CHECK_SHAPE(v, 3, 2, 3, 4);
    CHECK(v->storage == x->storage);
    CHECK(gan_get(v, I64(1, 2, 3)) == 23 && gan_get(v, I64(1, 0, 1)) == 13);
    gan_tensor *y;
    CHECK_OK(gan_view(&y, v, 2, I64(-1, 4)));   // -1 is inferred
    CHECK_SHAPE(y, 2, 6, 4);
    gan_tensor_release(y);
    CHECK_OK(gan_view(&y, v, 3, I64(4, -1, 2)));
    CHECK_SHAPE(y, 3, 4, 3, 2);
    gan_tensor_release(y);
    CHECK_OK(gan_view(&y, v, 5, I64(1, 24, 1, 1, 1)));
    CHECK_SHAPE(y, 5, 1, 24, 1, 1, 1);
    CHECK(gan_get(y, I64(0, 17, 0, 0, 0)) == 17);
    gan_tensor_release(y);
    CHECK_ERR(gan_view(&y, v, 0, NULL), "view: shape () is invalid for 24 elements");
    CHECK_ERR(gan_view(&y, v, 2, I64(5, -1)), "view: shape (5, -1) is invalid for 24 elements");
    CHECK_ERR(gan_view(&y, v, 2, I64(5, 5)), "invalid for 24 elements");
    CHECK_ERR(gan_view(&y, v, 3, I64(-1, -1, 2)), "only one dim can be -1");
    CHECK_ERR(gan_view(&y, v, 2, I64(-3, 8)), "invalid size -3 in dim 0");
    CHECK_ERR(gan_view(&y, v, 2, I64(0, -1)), "invalid for 24 elements");
    gan_tensor_release(v);

    // Non-contiguous but viewable: rows of a narrowed matrix stay contiguous.
    gan_tensor *m, *n;
    CHECK_OK(gan_view(&m, x, 2, I64(4, 6)));
    CHECK_OK(gan_narrow(&n, m, 0, 1, 2));          // rows 1..2: (2, 6), contiguous run
    CHECK_OK(gan_view(&y, n, 1, I64(12)));
    CHECK(gan_get(y, I64(0)) == 6 && gan_get(y, I64(11)) == 17);
    gan_tensor_release(y);
    gan_tensor_release(n);
    CHECK_OK(gan_narrow(&n, m, 1, 2, 3));          // columns 2..4: (4, 3) strides (6, 1)
    CHECK(!gan_is_contiguous(n));
    CHECK_OK(gan_view(&y, n, 3, I64(2, 2, 3)));    // splitting the outer dim is fine
    CHECK(y->storage == x->storage);
    CHECK(y->stride[0] == 12 && y->stride[1] == 6 && y->stride[2] == 1);
    CHECK(gan_get(y, I64(1, 1, 2)) == 3 * 6 + 4);
    gan_tensor_release(y);
    CHECK_OK(gan_view(&y, n, 4, I64(4, 1, 3, 1)));  // size-1 dims anywhere
    CHECK(gan_get(y, I64(3, 0, 1, 0)) == 3 * 6 + 3);
    gan_tensor_release(y);
    // ...but merging the columns across rows needs a copy.
    CHECK_ERR(gan_view(&y, n, 1, I64(12)),
              "view: a tensor of shape (4, 3) with these strides cannot be viewed as (12,)");
    CHECK_ERR(gan_view(&y, n, 2, I64(3, 4)), "cannot be viewed as (3, 4)");
    gan_tensor *t;
    CHECK_OK(gan_transpose(&t, m, 0, 1));          // (6, 4) strides (1, 6)
    CHECK_ERR(gan_view(&y, t, 1, I64(-1)), "without a copy; use reshape");
    CHECK_OK(gan_view(&y, t, 3, I64(3, 2, 4)));    // splitting a transposed dim is fine
    CHECK(gan_get(y, I64(2, 1, 3)) == gan_get(t, I64(5, 3)));
    gan_tensor_release(y);
    gan_tensor_release(t);
    gan_tensor_release(n);

    // Expanded (stride 0) tensors can split a dim but not merge the broadcast one.
    gan_tensor *r, *e;
    CHECK_OK(gan_narrow(&r, m, 0, 2, 1));          // (1, 6) = 12..17
    CHECK_OK(gan_expand(&e, r, 2, I64(3, 6)));
    CHECK_OK(gan_view(&y, e, 3, I64(3, 2, 3)));
    CHECK(y->stride[0] == 0);
    CHECK(gan_get(y, I64(2, 1, 2)) == 17);
    gan_tensor_release(y);
    CHECK_ERR(gan_view(&y, e, 1, I64(18)), "cannot be viewed");
    gan_tensor_release(e);
    gan_tensor_release(r);
    // 0-d and empty tensors.
    gan_tensor *s, *z;
    CHECK_OK(gan_full(&s, GAN_FLOAT32, 0, NULL, 7));
    CHECK_OK(gan_view(&y, s, 3, I64(1, -1, 1)));
    CHECK_SHAPE(y, 3, 1, 1, 1);
    CHECK(gan_get(y, I64(0, 0, 0)) == 7);
    gan_tensor_release(y);
    CHECK_OK(gan_zeros(&z, GAN_FLOAT32, 2, I64(0, 5)));
    CHECK_OK(gan_view(&y, z, 3, I64(5, 0, 7)));
    CHECK_SHAPE(y, 3, 5, 0, 7);
    gan_tensor_release(y);
    CHECK_ERR(gan_view(&y, z, 2, I64(-1, 0)), "invalid for 0 elements");
    gan_tensor_release(z);
    gan_tensor_release(s);
    gan_tensor_release(m);
    gan_tensor_release(x);
}

static void test_reshape(void) {
    gan_tensor *x, *t, *r;
    CHECK_OK(gan_arange(&x, GAN_FLOAT32, 0, 12, 1));
    CHECK_OK(gan_reshape(&r, x, 2, I64(3, -1)));   // view path: shares storage
    CHECK(r->storage == x->storage);
    CHECK_SHAPE(r, 2, 3, 4);
    CHECK_OK(gan_transpose(&t, r, 0, 1));         // (4, 3)
    gan_tensor_release(r);
    CHECK_OK(gan_reshape(&r, t, 1, I64(-1)));      // copy path
    CHECK(r->storage != x->storage);
    CHECK(gan_is_contiguous(r));
    CHECK_EQ_LIST(r, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11);
    gan_set(r, I64(0), 100);                       // the copy is independent
    CHECK(gan_get(x, I64(0)) == 0);
    gan_tensor_release(r);
    CHECK_OK(gan_reshape(&r, t, 3, I64(2, 2, 3)));  // splitting: still a view
    CHECK(r->storage == x->storage);
    CHECK(gan_get(r, I64(1, 1, 2)) == gan_get(t, I64(3, 2)));
    gan_tensor_release(r);
    CHECK_ERR(gan_reshape(&r, t, 2, I64(5, -1)), "reshape: shape (5, -1) is invalid for 12 elements");
    gan_tensor_release(t);
    gan_tensor_release(x);
}

static void test_transpose_permute(void) {
    gan_tensor *x, *t, *p;
    CHECK_OK(gan_arange(&x, GAN_INT64, 0, 24, 1));
    gan_tensor *v;
    CHECK_OK(gan_view(&v, x, 3, I64(2, 3, 4)));
    CHECK_OK(gan_transpose(&t, v, 0, -1));          // (4, 3, 2)
    CHECK_SHAPE(t, 3, 4, 3, 2);
    CHECK(t->stride[0] == 1 && t->stride[1] == 4 && t->stride[2] == 12);
    bool ok = true;
    int64_t i[3] = {0};
    do ok &= gan_get(t, i) == (double)(i[2] * 12 + i[1] * 4 + i[0]); while (tu_next(i, 3, t->size));
    CHECK(ok);
    gan_tensor_release(t);
    CHECK_OK(gan_transpose(&t, v, 1, 1));           // same dim: a plain view
    CHECK_SHAPE(t, 3, 2, 3, 4);
    gan_tensor_release(t);
    CHECK_ERR(gan_transpose(&t, v, 0, 3), "transpose: dim 3 out of range for a 3-d tensor");
    CHECK_ERR(gan_transpose(&t, v, -4, 0), "dim -4 out of range");

    CHECK_OK(gan_permute(&p, v, 3, INTS(2, 0, 1)));  // (4, 2, 3)
    CHECK_SHAPE(p, 3, 4, 2, 3);
    ok = true;
    memset(i, 0, sizeof i);
    do ok &= gan_get(p, i) == (double)(i[1] * 12 + i[2] * 4 + i[0]); while (tu_next(i, 3, p->size));
    CHECK(ok);
    gan_tensor_release(p);
    CHECK_OK(gan_permute(&p, v, 3, INTS(-1, -2, -3)));
    CHECK_SHAPE(p, 3, 4, 3, 2);
    gan_tensor_release(p);
    CHECK_ERR(gan_permute(&p, v, 3, INTS(0, 0, 1)), "permute: dim 0 given twice");
    CHECK_ERR(gan_permute(&p, v, 2, INTS(0, 1)), "permute: 2 dims given for a 3-d tensor");
    CHECK_ERR(gan_permute(&p, v, 3, INTS(0, 1, 3)), "dim 3 out of range for a 3-d tensor");
    gan_tensor_release(v);
    gan_tensor_release(x);
}

static void test_narrow_select(void) {
    gan_tensor *x, *m, *n, *s;
    CHECK_OK(gan_arange(&x, GAN_FLOAT64, 0, 20, 1));
    CHECK_OK(gan_view(&m, x, 2, I64(4, 5)));
    CHECK_OK(gan_narrow(&n, m, 1, 1, 3));
    CHECK_SHAPE(n, 2, 4, 3);
    CHECK(n->offset == 1 && n->stride[0] == 5);
    CHECK(gan_get(n, I64(2, 2)) == 13);
    CHECK_OK(gan_narrow(&s, n, -2, 3, 1));          // narrow of a narrow
    CHECK_SHAPE(s, 2, 1, 3);
    CHECK(gan_get(s, I64(0, 0)) == 16);
    gan_tensor_release(s);
    CHECK_OK(gan_narrow(&s, n, 0, 4, 0));           // empty at the end is fine
    CHECK(gan_numel(s) == 0);
    gan_tensor_release(s);
    CHECK_ERR(gan_narrow(&s, m, 1, 3, 3), "narrow: range [3, 6) out of bounds for dim 1 of size 5");
    CHECK_ERR(gan_narrow(&s, m, 0, -1, 2), "out of bounds");
    CHECK_ERR(gan_narrow(&s, m, 0, 1, -1), "out of bounds");
    CHECK_ERR(gan_narrow(&s, m, 0, 2, INT64_MAX), "out of bounds");   // no overflow
    CHECK_ERR(gan_narrow(&s, m, 0, INT64_MAX, 2), "out of bounds");
    CHECK_ERR(gan_narrow(&s, m, 2, 0, 1), "narrow: dim 2 out of range for a 2-d tensor");

    CHECK_OK(gan_select(&s, n, 1, 2));              // column 3 of m
    CHECK_SHAPE(s, 1, 4);
    CHECK_EQ_LIST(s, 3, 8, 13, 18);
    gan_tensor_release(s);
    CHECK_OK(gan_select(&s, m, -2, 3));             // last row
    CHECK_EQ_LIST(s, 15, 16, 17, 18, 19);
    gan_tensor *e;
    CHECK_OK(gan_select(&e, s, 0, 4));              // down to 0-d
    CHECK(e->ndim == 0);
    double v;
    CHECK_OK(gan_item(&v, e));
    CHECK(v == 19);
    CHECK_ERR(gan_select(&n, e, 0, 0), "select: cannot index a 0-d tensor");
    CHECK_ERR(gan_narrow(&n, e, 0, 0, 1), "narrow: cannot narrow a 0-d tensor");
    gan_tensor_release(e);
    gan_tensor_release(s);
    CHECK_ERR(gan_select(&s, m, 1, 5), "select: index 5 out of range for dim 1 of size 5");
    CHECK_ERR(gan_select(&s, m, 0, -1), "select: index -1 out of range for dim 0 of size 4");
    CHECK_ERR(gan_select(&s, m, -3, 0), "select: dim -3 out of range for a 2-d tensor");
    gan_tensor_release(n);
    gan_tensor_release(m);
    gan_tensor_release(x);
}

static void test_expand(void) {
    gan_tensor *x, *e;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 2, I64(3, 1), (double[]){1, 2, 3}));
    CHECK_OK(gan_expand(&e, x, 3, I64(2, 3, 4)));
    CHECK_SHAPE(e, 3, 2, 3, 4);
    CHECK(e->stride[0] == 0 && e->stride[2] == 0 && e->stride[1] == 1);
    CHECK(e->storage == x->storage);
    CHECK(gan_get(e, I64(1, 2, 3)) == 3 && gan_get(e, I64(0, 1, 0)) == 2);
    CHECK(!gan_is_contiguous(e));
    gan_tensor_release(e);
    CHECK_OK(gan_expand(&e, x, 2, I64(-1, 5)));     // -1 keeps the size
    CHECK_SHAPE(e, 2, 3, 5);
    gan_tensor_release(e);
    CHECK_OK(gan_expand(&e, x, 2, I64(3, 0)));      // a size-1 dim can become 0
    CHECK(gan_numel(e) == 0);
    gan_tensor_release(e);
    CHECK_ERR(gan_expand(&e, x, 2, I64(4, 4)), "expand: cannot expand shape (3, 1) to (4, 4)");
    CHECK_ERR(gan_expand(&e, x, 1, I64(3)), "cannot expand shape (3, 1) to (3,)");
    CHECK_ERR(gan_expand(&e, x, 3, I64(-1, 3, 2)), "cannot expand");   // -1 for a new dim
    CHECK_ERR(gan_expand(&e, x, 2, I64(3, -2)), "cannot expand");
    // Expanding an expanded tensor, and a 0-d one.
    gan_tensor *e2, *s;
    CHECK_OK(gan_expand(&e, x, 2, I64(3, 2)));
    CHECK_OK(gan_expand(&e2, e, 3, I64(2, 3, 2)));
    CHECK(e2->stride[0] == 0 && e2->stride[2] == 0);
    CHECK(gan_get(e2, I64(1, 2, 1)) == 3);
    gan_tensor_release(e2);
    gan_tensor_release(e);
    CHECK_OK(gan_full(&s, GAN_INT64, 0, NULL, 9));
    CHECK_OK(gan_expand(&e, s, 2, I64(2, 2)));
    CHECK_EQ_LIST(e, 9, 9, 9, 9);
    gan_tensor_release(e);
    gan_tensor_release(s);
    gan_tensor_release(x);
}

static void test_squeeze_unsqueeze(void) {
    gan_tensor *x, *s, *u;
    CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 4, I64(1, 3, 1, 2)));
    CHECK_OK(gan_squeeze(&s, x, 0, true));
    CHECK_SHAPE(s, 2, 3, 2);
    CHECK(s->stride[0] == 2 && s->stride[1] == 1);
    gan_tensor_release(s);
    CHECK_OK(gan_squeeze(&s, x, 2, false));
    CHECK_SHAPE(s, 3, 1, 3, 2);
    gan_tensor_release(s);
    CHECK_OK(gan_squeeze(&s, x, -4, false));
    CHECK_SHAPE(s, 3, 3, 1, 2);
    gan_tensor_release(s);
    CHECK_OK(gan_squeeze(&s, x, 1, false));          // size 3: unchanged
    CHECK_SHAPE(s, 4, 1, 3, 1, 2);
    gan_tensor_release(s);
    CHECK_ERR(gan_squeeze(&s, x, 4, false), "squeeze: dim 4 out of range for a 4-d tensor");
    gan_tensor *ones;
    CHECK_OK(gan_zeros(&ones, GAN_FLOAT32, 3, I64(1, 1, 1)));
    CHECK_OK(gan_squeeze(&s, ones, 0, true));        // to 0-d
    CHECK(s->ndim == 0 && gan_numel(s) == 1);
    gan_tensor_release(s);
    gan_tensor_release(ones);

    gan_tensor *a, *m;
    CHECK_OK(gan_arange(&a, GAN_FLOAT64, 0, 6, 1));
    CHECK_OK(gan_view(&m, a, 2, I64(2, 3)));
    CHECK_OK(gan_unsqueeze(&u, m, 0));
    CHECK_SHAPE(u, 3, 1, 2, 3);
    gan_tensor_release(u);
    CHECK_OK(gan_unsqueeze(&u, m, 1));
    CHECK_SHAPE(u, 3, 2, 1, 3);
    CHECK(gan_get(u, I64(1, 0, 2)) == 5);
    gan_tensor_release(u);
    CHECK_OK(gan_unsqueeze(&u, m, 2));               // at the end
    CHECK_SHAPE(u, 3, 2, 3, 1);
    CHECK(gan_get(u, I64(1, 1, 0)) == 4);
    gan_tensor *f;
    CHECK_OK(gan_view(&f, u, 1, I64(6)));            // still viewable
    CHECK(gan_get(f, I64(5)) == 5);
    gan_tensor_release(f);
    gan_tensor_release(u);
    CHECK_OK(gan_unsqueeze(&u, m, -1));              // -1: also at the end
    CHECK_SHAPE(u, 3, 2, 3, 1);
    gan_tensor_release(u);
    CHECK_OK(gan_unsqueeze(&u, m, -3));
    CHECK_SHAPE(u, 3, 1, 2, 3);
    gan_tensor_release(u);
    CHECK_ERR(gan_unsqueeze(&u, m, 3), "unsqueeze: dim 3 out of range for a 3-d tensor");
    CHECK_ERR(gan_unsqueeze(&u, m, -4), "dim -4 out of range");
    gan_tensor *t;                                   // unsqueeze of a transposed view
    CHECK_OK(gan_transpose(&t, m, 0, 1));
    CHECK_OK(gan_unsqueeze(&u, t, 1));
    CHECK_SHAPE(u, 3, 3, 1, 2);
    CHECK(gan_get(u, I64(2, 0, 1)) == 5);
    gan_tensor_release(u);
    gan_tensor_release(t);
    gan_tensor *sc;
    CHECK_OK(gan_full(&sc, GAN_FLOAT32, 0, NULL, 1));
    CHECK_OK(gan_unsqueeze(&u, sc, 0));
    CHECK_SHAPE(u, 1, 1);
    gan_tensor_release(u);
    gan_tensor_release(sc);
    // At most GAN_MAX_DIMS dims.
    int64_t size[GAN_MAX_DIMS];
    for (int i = 0; i < GAN_MAX_DIMS; i++) size[i] = 1;
    gan_tensor *big;
    CHECK_OK(gan_zeros(&big, GAN_FLOAT32, GAN_MAX_DIMS, size));
    CHECK_ERR(gan_unsqueeze(&u, big, 0), "unsqueeze: at most 16 dims");
    gan_tensor_release(big);
    gan_tensor_release(m);
    gan_tensor_release(a);
    gan_tensor_release(x);
}

static void test_flatten(void) {
    gan_tensor *x, *v, *f;
    CHECK_OK(gan_arange(&x, GAN_FLOAT32, 0, 24, 1));
    CHECK_OK(gan_view(&v, x, 3, I64(2, 3, 4)));
    CHECK_OK(gan_flatten(&f, v, 1, 2));
    CHECK_SHAPE(f, 2, 2, 12);
    CHECK(f->storage == x->storage);
    gan_tensor_release(f);
    CHECK_OK(gan_flatten(&f, v, 0, -1));
    CHECK_SHAPE(f, 1, 24);
    gan_tensor_release(f);
    CHECK_OK(gan_flatten(&f, v, 1, 1));               // one dim: same shape
    CHECK_SHAPE(f, 3, 2, 3, 4);
    gan_tensor_release(f);
    gan_tensor *t;
    CHECK_OK(gan_transpose(&t, v, 0, 2));             // (4, 3, 2): flatten must copy
    CHECK_OK(gan_flatten(&f, t, 0, -1));
    CHECK(f->storage != x->storage);
    CHECK(gan_get(f, I64(1)) == 12 && gan_get(f, I64(2)) == 4 && gan_get(f, I64(23)) == 23);
    gan_tensor_release(f);
    CHECK_ERR(gan_flatten(&f, v, 2, 1), "flatten: start_dim 2 comes after end_dim 1");
    CHECK_ERR(gan_flatten(&f, v, 0, 3), "flatten: dim 3 out of range");
    gan_tensor *s;
    CHECK_OK(gan_full(&s, GAN_FLOAT32, 0, NULL, 3));
    CHECK_OK(gan_flatten(&f, s, 0, -1));               // 0-d becomes (1,)
    CHECK_SHAPE(f, 1, 1);
    gan_tensor_release(f);
    gan_tensor_release(s);
    gan_tensor_release(t);
    gan_tensor_release(v);
    gan_tensor_release(x);
}

static void test_as_strided(void) {
    gan_tensor *x, *w;
    CHECK_OK(gan_arange(&x, GAN_FLOAT64, 0, 10, 1));
    CHECK_OK(gan_as_strided(&w, x, 2, I64(4, 3), I64(2, 1), 1));   // sliding windows
    CHECK_SHAPE(w, 2, 4, 3);
    CHECK_EQ_LIST(w, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9);
    gan_tensor_release(w);
    CHECK_OK(gan_as_strided(&w, x, 2, I64(2, 5), I64(0, 2), 0));   // stride 0 is fine
    CHECK_EQ_LIST(w, 0, 2, 4, 6, 8, 0, 2, 4, 6, 8);
    gan_tensor_release(w);
    CHECK_OK(gan_as_strided(&w, x, 0, NULL, NULL, 9));              // the last element
    CHECK(gan_get(w, NULL) == 9);
    gan_tensor_release(w);
    // The offset is into the storage, not relative to the view.
    gan_tensor *n;
    CHECK_OK(gan_narrow(&n, x, 0, 5, 5));
    CHECK_OK(gan_as_strided(&w, n, 1, I64(3), I64(1), 0));
    CHECK_EQ_LIST(w, 0, 1, 2);
    gan_tensor_release(w);
    gan_tensor_release(n);
    // Bounds: the last element reached must be inside the storage.
    CHECK_ERR(gan_as_strided(&w, x, 2, I64(4, 3), I64(2, 1), 2),
              "as_strided: view reaches outside the storage of 80 bytes");
    CHECK_ERR(gan_as_strided(&w, x, 1, I64(11), I64(1), 0), "outside the storage");
    CHECK_ERR(gan_as_strided(&w, x, 1, I64(1), I64(1), 10), "outside the storage");
    CHECK_ERR(gan_as_strided(&w, x, 1, I64(2), I64(1), -1), "outside the storage");
    CHECK_ERR(gan_as_strided(&w, x, 1, I64(2), I64(INT64_MAX), 0), "outside the storage");
    CHECK_ERR(gan_as_strided(&w, x, 2, I64(INT64_MAX, 3), I64(INT64_MAX / 2, 1), 0),
              "outside the storage");
    CHECK_ERR(gan_as_strided(&w, x, 1, I64(2), I64(-1), 5), "negative size or stride");
    CHECK_ERR(gan_as_strided(&w, x, 2, I64(0, -3), I64(1, 1), 0), "negative size or stride in dim 1");
    CHECK_ERR(gan_as_strided(&w, x, GAN_MAX_DIMS + 1, I64(1), I64(1), 0), "as_strided: bad ndim 17");
    CHECK_OK(gan_as_strided(&w, x, 2, I64(0, 3), I64(1000, 1000), 50));   // empty: no bounds
    CHECK(gan_numel(w) == 0);
    gan_tensor_release(w);
    gan_tensor_release(x);
}

// ---- copies and conversion

static void test_contiguous_clone(void) {
    gan_tensor *x, *c, *t;
    CHECK_OK(gan_arange(&x, GAN_FLOAT32, 0, 6, 1));
    CHECK_OK(gan_contiguous(&c, x));
    CHECK(c == x && x->refcount == 2);              // contiguous: the same tensor, retained
    gan_tensor_release(c);
    gan_tensor *m;
    CHECK_OK(gan_view(&m, x, 2, I64(2, 3)));
    CHECK_OK(gan_transpose(&t, m, 0, 1));
    CHECK_OK(gan_contiguous(&c, t));
    CHECK(c != t && c->storage != x->storage && gan_is_contiguous(c));
    CHECK_SHAPE(c, 2, 3, 2);
    CHECK_EQ_LIST(c, 0, 3, 1, 4, 2, 5);
    gan_tensor_release(c);
    CHECK_OK(gan_clone(&c, m));                     // clone always copies
    CHECK(c->storage != m->storage);
    CHECK_EQ_LIST(c, 0, 1, 2, 3, 4, 5);
    gan_set(c, I64(0, 0), -1);
    CHECK(gan_get(m, I64(0, 0)) == 0);
    gan_tensor_release(c);
    // A narrowed view starts at its offset; the clone starts at 0.
    gan_tensor *n;
    CHECK_OK(gan_narrow(&n, x, 0, 2, 3));
    CHECK(gan_is_contiguous(n));
    CHECK_OK(gan_clone(&c, n));
    CHECK(c->offset == 0);
    CHECK_EQ_LIST(c, 2, 3, 4);
    gan_tensor_release(c);
    // Expanded tensors materialise.
    gan_tensor *e;
    CHECK_OK(gan_expand(&e, n, 2, I64(2, 3)));
    CHECK_OK(gan_contiguous(&c, e));
    CHECK_EQ_LIST(c, 2, 3, 4, 2, 3, 4);
    CHECK(c->storage->nbytes == 6 * 4);
    gan_tensor_release(c);
    gan_tensor_release(e);
    gan_tensor_release(n);
    gan_tensor_release(t);
    gan_tensor_release(m);
    gan_tensor_release(x);
}

static void test_copy_fill(void) {
    gan_tensor *d, *s, *t;
    CHECK_OK(gan_zeros(&d, GAN_FLOAT32, 2, I64(2, 3)));
    CHECK_OK(gan_from_doubles(&s, GAN_FLOAT64, 1, I64(3), (double[]){1.5, -2, 3}));
    CHECK_OK(gan_copy_(d, s));                      // broadcast + float64 -> float32
    CHECK_EQ_LIST(d, 1.5, -2, 3, 1.5, -2, 3);
    gan_tensor_release(s);
    CHECK_OK(gan_from_doubles(&s, GAN_FLOAT64, 2, I64(2, 1), (double[]){-2.7, 2.7}));
    gan_tensor *di;
    CHECK_OK(gan_zeros(&di, GAN_INT64, 2, I64(2, 3)));
    CHECK_OK(gan_copy_(di, s));                     // float -> int truncates toward zero
    CHECK_EQ_LIST(di, -2, -2, -2, 2, 2, 2);
    CHECK_OK(gan_copy_(d, di));                     // int64 -> float32
    CHECK_EQ_LIST(d, -2, -2, -2, 2, 2, 2);
    gan_tensor_release(s);
    // Into a transposed destination.
    CHECK_OK(gan_transpose(&t, d, 0, 1));           // (3, 2)
    CHECK_OK(gan_from_doubles(&s, GAN_FLOAT32, 2, I64(3, 2), (double[]){1, 2, 3, 4, 5, 6}));
    CHECK_OK(gan_copy_(t, s));
    CHECK_EQ_LIST(d, 1, 3, 5, 2, 4, 6);
    gan_tensor_release(s);
    // Errors name both shapes.
    CHECK_OK(gan_zeros(&s, GAN_FLOAT32, 1, I64(4)));
    CHECK_ERR(gan_copy_(d, s), "copy_: shapes (2, 3) and (4,) do not broadcast");
    gan_tensor_release(s);
    CHECK_OK(gan_zeros(&s, GAN_FLOAT32, 3, I64(2, 2, 3)));
    CHECK_ERR(gan_copy_(d, s), "copy_: in-place result of shape (2, 3) cannot take an operand of shape (2, 2, 3)");
    gan_tensor_release(s);
    // copy_ between overlapping views of one storage reads the source first.
    gan_tensor *x, *sq, *sqt;
    CHECK_OK(gan_arange(&x, GAN_FLOAT64, 0, 9, 1));
    CHECK_OK(gan_view(&sq, x, 2, I64(3, 3)));
    CHECK_OK(gan_transpose(&sqt, sq, 0, 1));
    CHECK_OK(gan_copy_(sq, sqt));
    CHECK_EQ_LIST(x, 0, 3, 6, 1, 4, 7, 2, 5, 8);
    CHECK_OK(gan_copy_(sq, sq));                    // itself: no change
    CHECK_EQ_LIST(x, 0, 3, 6, 1, 4, 7, 2, 5, 8);
    // fill_ on a non-contiguous view touches only the view.
    gan_tensor *col;
    CHECK_OK(gan_select(&col, sq, 1, 1));
    CHECK_OK(gan_fill_(col, -1));
    CHECK_EQ_LIST(x, 0, -1, 6, 1, -1, 7, 2, -1, 8);
    gan_tensor_release(col);
    CHECK_OK(gan_fill_(di, 7));
    CHECK_EQ_LIST(di, 7, 7, 7, 7, 7, 7);
    gan_tensor_release(sqt);
    gan_tensor_release(sq);
    gan_tensor_release(x);
    gan_tensor_release(t);
    gan_tensor_release(di);
    gan_tensor_release(d);
}

static void test_to_dtype(void) {
    gan_tensor *x, *y, *z;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT64, 1, I64(4), (double[]){-1.9, 0.5, 2.25, 1e10}));
    CHECK_OK(gan_to_dtype(&y, x, GAN_FLOAT64));
    CHECK(y == x && x->refcount == 2);             // same dtype: retained, not copied
    gan_tensor_release(y);
    CHECK_OK(gan_to_dtype(&y, x, GAN_FLOAT32));
    CHECK(y->dtype == GAN_FLOAT32 && y->storage != x->storage);
    CHECK_EQ_LIST(y, (float)-1.9, 0.5, 2.25, 1e10);
    CHECK_OK(gan_to_dtype(&z, y, GAN_INT64));
    CHECK(z->dtype == GAN_INT64);
    CHECK_EQ_LIST(z, -1, 0, 2, 1e10);
    gan_tensor_release(z);
    gan_tensor_release(y);
    CHECK_ERR(gan_to_dtype(&y, x, (gan_dtype)9), "to: invalid dtype 9");
    // Conversion of a non-contiguous view.
    gan_tensor *m, *t;
    gan_tensor_release(x);
    CHECK_OK(gan_arange(&x, GAN_INT64, 0, 6, 1));
    CHECK_OK(gan_view(&m, x, 2, I64(2, 3)));
    CHECK_OK(gan_transpose(&t, m, 0, 1));
    CHECK_OK(gan_to_dtype(&y, t, GAN_FLOAT64));
    CHECK(gan_is_contiguous(y));
    CHECK_EQ_LIST(y, 0, 3, 1, 4, 2, 5);
    gan_tensor_release(y);
    gan_tensor_release(t);
    gan_tensor_release(m);
    gan_tensor_release(x);
}

static void test_broadcast_shape(void) {
    gan_tensor *a, *b, *c;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 3, I64(3, 1, 5)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 2, I64(4, 5)));
    CHECK_OK(gan_empty(&c, GAN_FLOAT32, 0, NULL));
    int nd;
    int64_t size[GAN_MAX_DIMS];
    const gan_tensor *ab[3] = {a, b, c};
    CHECK_OK(gan_broadcast_shape(&nd, size, 3, ab, "op"));
    CHECK(nd == 3 && size[0] == 3 && size[1] == 4 && size[2] == 5);
    const gan_tensor *cc[1] = {c};
    CHECK_OK(gan_broadcast_shape(&nd, size, 1, cc, "op"));
    CHECK(nd == 0);
    gan_tensor *d, *d3, *z;
    CHECK_OK(gan_empty(&d, GAN_FLOAT32, 2, I64(2, 5)));
    CHECK_OK(gan_empty(&d3, GAN_FLOAT32, 3, I64(2, 1, 5)));
    const gan_tensor *ad[2] = {a, d};
    CHECK_OK(gan_broadcast_shape(&nd, size, 2, ad, "op"));   // (3, 1, 5) with (2, 5)
    CHECK(nd == 3 && size[0] == 3 && size[1] == 2 && size[2] == 5);
    const gan_tensor *ad3[2] = {a, d3};
    CHECK_ERR(gan_broadcast_shape(&nd, size, 2, ad3, "myop"),
              "myop: shapes (3, 1, 5) and (2, 1, 5) do not broadcast (dim -3: 3 vs 2)");
    const gan_tensor *bd[2] = {b, d};
    CHECK_ERR(gan_broadcast_shape(&nd, size, 2, bd, "add"),
              "add: shapes (4, 5) and (2, 5) do not broadcast (dim -2: 4 vs 2)");
    gan_tensor_release(d3);
    CHECK_OK(gan_empty(&z, GAN_FLOAT32, 2, I64(0, 1)));
    const gan_tensor *zb[2] = {z, b};
    CHECK_ERR(gan_broadcast_shape(&nd, size, 2, zb, "op"), "dim -2: 0 vs 4");
    const gan_tensor *za[2] = {z, a};
    CHECK_OK(gan_broadcast_shape(&nd, size, 2, za, "op"));   // 0 broadcasts against 1
    CHECK(nd == 3 && size[0] == 3 && size[1] == 0 && size[2] == 5);
    gan_tensor_release(z);
    gan_tensor_release(d);
    gan_tensor_release(c);
    gan_tensor_release(b);
    gan_tensor_release(a);
}

// ---- random chains of views against an index-mapping reference
//
// The base holds 0, 1, 2, ... so every element's value is its storage offset. The
// reference keeps the expected offsets in row-major order; each view op is applied to both
// and every element compared. view() may refuse (strides); then reshape() must work.

typedef struct {
    int nd;
    int64_t size[GAN_MAX_DIMS];
    int64_t n;
    double *v;   // expected values, row-major
} refarr;

enum { F_TRANSPOSE, F_PERMUTE, F_NARROW, F_SELECT, F_UNSQUEEZE, F_SQUEEZE, F_EXPAND, F_VIEW,
       F_FLATTEN, F_NUM };

static int64_t fz_rand(uint64_t *s, int64_t n) { return n > 0 ? (int64_t)(tu_rand01(s) * (double)n) : 0; }

// Random shape with n elements and at most `maxd` dims (some of size 1).
static int fz_shape(uint64_t *s, int64_t n, int64_t *size, int maxd) {
    int nd = 0;
    int64_t rest = n;
    while (nd < maxd - 1 && rest > 1 && tu_rand01(s) < 0.7) {
        int64_t d = 2 + fz_rand(s, 4);
        if (rest % d) { if (tu_rand01(s) < 0.3) size[nd++] = 1; continue; }
        size[nd++] = d;
        rest /= d;
    }
    size[nd++] = rest;
    for (int i = nd - 1; i > 0; i--) {   // shuffle
        int j = (int)fz_rand(s, i + 1);
        int64_t t = size[i]; size[i] = size[j]; size[j] = t;
    }
    return nd;
}

// new[i] = old[map(i)] where map works on multi-indices; mapfn fills old from new.
typedef void (*fz_map)(int64_t *oldi, const int64_t *newi, const int64_t *p);

static void fz_apply(refarr *r, int nd, const int64_t *size, fz_map map, const int64_t *p) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= size[d];
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int64_t newi[GAN_MAX_DIMS] = {0}, oldi[GAN_MAX_DIMS];
    for (int64_t k = 0; k < n; k++) {
        map(oldi, newi, p);
        int64_t o = 0;
        for (int d = 0; d < r->nd; d++) o = o * r->size[d] + oldi[d];
        v[k] = r->v[o];
        tu_next(newi, nd, size);
    }
    free(r->v);
    r->v = v;
    r->n = n;
    r->nd = nd;
    memcpy(r->size, size, sizeof(int64_t) * (size_t)nd);
}

// p[0] = old ndim, then op parameters.
static void map_permute(int64_t *o, const int64_t *n, const int64_t *p) {
    for (int i = 0; i < p[0]; i++) o[p[1 + i]] = n[i];
}
static void map_narrow(int64_t *o, const int64_t *n, const int64_t *p) {
    for (int i = 0; i < p[0]; i++) o[i] = n[i];
    o[p[1]] += p[2];
}
static void map_select(int64_t *o, const int64_t *n, const int64_t *p) {
    for (int i = 0, j = 0; i < p[0]; i++) o[i] = i == p[1] ? p[2] : n[j++];
}
static void map_unsqueeze(int64_t *o, const int64_t *n, const int64_t *p) {
    for (int i = 0, j = 0; i < p[0] + 1; i++) { if (i != p[1]) o[j++] = n[i]; }
}
static void map_squeeze(int64_t *o, const int64_t *n, const int64_t *p) {   // p[1..]: old sizes
    for (int i = 0, j = 0; i < p[0]; i++) o[i] = p[1 + i] == 1 ? 0 : n[j++];
}
static void map_expand(int64_t *o, const int64_t *n, const int64_t *p) {
    for (int i = 0; i < p[0]; i++) o[i] = i == p[1] ? 0 : n[i];
}

static int64_t fz_mismatch(const gan_tensor *t, const refarr *r) {
    if (!tu_shape_is(t, r->nd, r->size)) return -1;
    int64_t bad = 0;
    for (int64_t i = 0; i < r->n; i++) bad += tu_flat(t, i) != r->v[i];
    return bad;
}

static void test_view_fuzz(void) {
    uint64_t s = 2024;
    int64_t views_ok = 0, views_refused = 0;
    for (int chain = 0; chain < 400; chain++) {
        int64_t n = (int64_t[]){24, 36, 60, 64, 30, 1, 0, 48}[chain % 8];
        gan_tensor *base, *t;
        CHECK_OK(gan_arange(&base, GAN_FLOAT64, 0, n > 0 ? (double)n : 0, 1));
        int64_t size[GAN_MAX_DIMS];
        int nd = fz_shape(&s, n, size, 5);
        CHECK_OK(gan_view(&t, base, nd, size));
        gan_tensor_release(base);
        refarr r = {0};
        r.v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        for (int64_t i = 0; i < n; i++) r.v[i] = (double)i;
        r.n = n;
        r.nd = nd;
        memcpy(r.size, size, sizeof size);
        char trace[512] = "";
        for (int step = 0; step < 7; step++) {
            int op = (int)fz_rand(&s, F_NUM);
            gan_tensor *u = NULL;
            int64_t p[GAN_MAX_DIMS + 4] = {t->ndim};
            int64_t ns[GAN_MAX_DIMS];
            char what[64];
            int rc = GAN_ERR;
            if (t->ndim == 0 && op != F_UNSQUEEZE && op != F_VIEW) op = F_UNSQUEEZE;
            switch (op) {
            case F_TRANSPOSE: case F_PERMUTE: {
                for (int i = 0; i < t->ndim; i++) p[1 + i] = i;
                for (int i = t->ndim - 1; i > 0; i--) {
                    int j = (int)fz_rand(&s, i + 1);
                    int64_t x = p[1 + i]; p[1 + i] = p[1 + j]; p[1 + j] = x;
                }
                int perm[GAN_MAX_DIMS];
                for (int i = 0; i < t->ndim; i++) { perm[i] = (int)p[1 + i]; ns[i] = t->size[perm[i]]; }
                rc = gan_permute(&u, t, t->ndim, perm);
                if (rc == GAN_OK) fz_apply(&r, t->ndim, ns, map_permute, p);
                snprintf(what, sizeof what, "permute ");
                break;
            }
            case F_NARROW: {
                int d = (int)fz_rand(&s, t->ndim);
                int64_t len = fz_rand(&s, t->size[d] + 1), st = fz_rand(&s, t->size[d] - len + 1);
                if (len == 0 && tu_rand01(&s) < 0.8) len = t->size[d] - st;   // empties are rare
                p[1] = d; p[2] = st;
                memcpy(ns, t->size, sizeof ns);
                ns[d] = len;
                rc = gan_narrow(&u, t, d, st, len);
                if (rc == GAN_OK) fz_apply(&r, t->ndim, ns, map_narrow, p);
                snprintf(what, sizeof what, "narrow(%d,%lld,%lld) ", d, (long long)st, (long long)len);
                break;
            }
            case F_SELECT: {
                int d = (int)fz_rand(&s, t->ndim);
                if (t->size[d] == 0) { op = -1; break; }
                int64_t i = fz_rand(&s, t->size[d]);
                p[1] = d; p[2] = i;
                for (int a = 0, b = 0; a < t->ndim; a++) if (a != d) ns[b++] = t->size[a];
                rc = gan_select(&u, t, d, i);
                if (rc == GAN_OK) fz_apply(&r, t->ndim - 1, ns, map_select, p);
                snprintf(what, sizeof what, "select(%d,%lld) ", d, (long long)i);
                break;
            }
            case F_UNSQUEEZE: {
                if (t->ndim >= 8) { op = -1; break; }
                int d = (int)fz_rand(&s, t->ndim + 1);
                p[1] = d;
                for (int a = 0, b = 0; a <= t->ndim; a++) ns[a] = a == d ? 1 : t->size[b++];
                rc = gan_unsqueeze(&u, t, d);
                if (rc == GAN_OK) fz_apply(&r, t->ndim + 1, ns, map_unsqueeze, p);
                snprintf(what, sizeof what, "unsqueeze(%d) ", d);
                break;
            }
            case F_SQUEEZE: {
                int k = 0;
                for (int a = 0; a < t->ndim; a++) { p[1 + a] = t->size[a]; if (t->size[a] != 1) ns[k++] = t->size[a]; }
                rc = gan_squeeze(&u, t, 0, true);
                if (rc == GAN_OK) fz_apply(&r, k, ns, map_squeeze, p);
                snprintf(what, sizeof what, "squeeze ");
                break;
            }
            case F_EXPAND: {
                int d = -1;
                for (int a = 0; a < t->ndim; a++) if (t->size[a] == 1 && tu_rand01(&s) < 0.7) d = a;
                if (d < 0) { op = -1; break; }
                memcpy(ns, t->size, sizeof ns);
                ns[d] = 2 + fz_rand(&s, 3);
                p[1] = d;
                rc = gan_expand(&u, t, t->ndim, ns);
                if (rc == GAN_OK) fz_apply(&r, t->ndim, ns, map_expand, p);
                snprintf(what, sizeof what, "expand(%d->%lld) ", d, (long long)ns[d]);
                break;
            }
            case F_VIEW: case F_FLATTEN: {
                int k;
                if (op == F_FLATTEN && t->ndim > 0) {
                    int a = (int)fz_rand(&s, t->ndim), b = a + (int)fz_rand(&s, t->ndim - a);
                    k = 0;
                    for (int i = 0; i < a; i++) ns[k++] = t->size[i];
                    int64_t prod = 1;
                    for (int i = a; i <= b; i++) prod *= t->size[i];
                    ns[k++] = prod;
                    for (int i = b + 1; i < t->ndim; i++) ns[k++] = t->size[i];
                    rc = gan_flatten(&u, t, a, b);
                    snprintf(what, sizeof what, "flatten(%d,%d) ", a, b);
                } else {
                    k = gan_numel(t) == 0 ? 2 : fz_shape(&s, gan_numel(t), ns, 5);
                    if (gan_numel(t) == 0) { ns[0] = 0; ns[1] = 3; }
                    int64_t req[GAN_MAX_DIMS];
                    memcpy(req, ns, sizeof req);
                    if (gan_numel(t) > 0 && tu_rand01(&s) < 0.3) req[fz_rand(&s, k)] = -1;
                    rc = gan_view(&u, t, k, req);
                    if (rc == GAN_OK) {
                        views_ok++;
                        CHECK(u->storage == t->storage);
                    } else {
                        views_refused++;
                        CHECK(strstr(gan_last_error(), "cannot be viewed") != NULL);
                        CHECK_OK(rc = gan_reshape(&u, t, k, req));
                    }
                    snprintf(what, sizeof what, "view(k=%d)%s ", k, rc == GAN_OK ? "" : "!");
                }
                if (rc == GAN_OK) {   // same row-major sequence, new shape
                    r.nd = k;
                    memcpy(r.size, ns, sizeof(int64_t) * (size_t)k);
                }
                break;
            }
            }
            if (op < 0) continue;
            strncat(trace, what, sizeof trace - strlen(trace) - 1);
            CHECK_MSG(rc == GAN_OK, "chain %d: %s failed: %s", chain, trace, gan_last_error());
            if (rc != GAN_OK) break;
            gan_tensor_release(t);
            t = u;
            int64_t bad = fz_mismatch(t, &r);
            CHECK_MSG(bad == 0, "chain %d: %s: %lld wrong elements", chain, trace, (long long)bad);
            if (bad) break;
            gan_tensor *c;   // contiguous copies agree too
            CHECK_OK(gan_contiguous(&c, t));
            CHECK(fz_mismatch(c, &r) == 0 && gan_is_contiguous(c));
            gan_tensor_release(c);
        }
        gan_tensor_release(t);
        free(r.v);
    }
    CHECK(views_ok > 50 && views_refused > 20);   // both paths were exercised
}

static void test_misc_errors(void) {
    gan_tensor *x, *y;
    CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 2, I64(2, 3)));
    int d;
    CHECK_OK(gan_wrap_dim(&d, -1, 2, "op"));
    CHECK(d == 1);
    CHECK_ERR(gan_wrap_dim(&d, 2, 2, "sum"), "sum: dim 2 out of range for a 2-d tensor");
    CHECK_OK(gan_wrap_dim(&d, -1, 0, "op"));        // 0-d accepts 0 and -1
    CHECK(d == 0);
    CHECK_ERR(gan_wrap_dim(&d, 1, 0, "op"), "dim 1 out of range for a 0-d tensor");
    double v;
    CHECK_ERR(gan_item(&v, x), "item: tensor of shape (2, 3) has 6 elements, expected exactly 1");
    CHECK_ERR(gan_view(&y, x, GAN_MAX_DIMS + 1, I64(1)), "view: at most 16 dims");
    // A failed call leaves the output untouched and allocates nothing.
    y = (gan_tensor *)0x1;
    CHECK_ERR(gan_narrow(&y, x, 0, 5, 1), "out of bounds");
    CHECK(y == (gan_tensor *)0x1);
    // Same shape helper.
    gan_tensor *z;
    CHECK_OK(gan_zeros(&z, GAN_INT64, 2, I64(2, 3)));
    CHECK(gan_same_shape(x, z));
    gan_tensor_release(z);
    CHECK_OK(gan_zeros(&z, GAN_FLOAT32, 2, I64(3, 2)));
    CHECK(!gan_same_shape(x, z));
    gan_tensor_release(z);
    gan_tensor_release(x);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_dtypes),          CHECK_TEST(test_shape_str),
        CHECK_TEST(test_empty_zeros_full), CHECK_TEST(test_creation_errors),
        CHECK_TEST(test_arange),          CHECK_TEST(test_linspace),
        CHECK_TEST(test_eye_from_doubles), CHECK_TEST(test_refcounting),
        CHECK_TEST(test_view),            CHECK_TEST(test_reshape),
        CHECK_TEST(test_transpose_permute), CHECK_TEST(test_narrow_select),
        CHECK_TEST(test_expand),          CHECK_TEST(test_squeeze_unsqueeze),
        CHECK_TEST(test_flatten),         CHECK_TEST(test_as_strided),
        CHECK_TEST(test_contiguous_clone), CHECK_TEST(test_copy_fill),
        CHECK_TEST(test_to_dtype),        CHECK_TEST(test_broadcast_shape),
        CHECK_TEST(test_view_fuzz),       CHECK_TEST(test_misc_errors),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
