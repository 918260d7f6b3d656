/* vec: the one growable array. Any (pointer, capacity) pair grows with
 * VEC_GROW(p, cap, need): afterwards p holds at least need elements
 * (capacity doubles, starting at 8; aborts on out-of-memory as xrealloc).
 * VEC(T) declares such a pair with its length, for new code:
 *     VEC(int) v = {0}; VEC_PUSH(&v, 42); ... free(v.v);
 * A ring (p, cap, head, len: elements head .. head+len-1 modulo cap) makes
 * room for one more with RING_GROW(p, cap, head, len): when full, the
 * elements move in order to a buffer twice as large (16 at first), head 0. */
#ifndef EVKIT_CORE_VEC_H
#define EVKIT_CORE_VEC_H

#include <stddef.h>

void *vec_grow_(void *p, size_t *cap, size_t need, size_t elem);
void *ring_grow_(void *p, size_t *cap, size_t *head, size_t len, size_t elem);

#define VEC_GROW(p, cap, need) ((p) = vec_grow_((p), &(cap), (need), sizeof *(p)))
#define RING_GROW(p, cap, head, len) \
    ((p) = ring_grow_((p), &(cap), &(head), (len), sizeof *(p)))
#define VEC(T) struct { T *v; size_t n, cap; }
#define VEC_PUSH(a, x) (VEC_GROW((a)->v, (a)->cap, (a)->n + 1), (a)->v[(a)->n++] = (x))

#endif
