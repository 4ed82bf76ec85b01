/*
 * unit.util: the growable buffer and the byte-order helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notbrought/util.h"

/* A buffer remembers its first failed write: the writes after it do nothing and return the
 * same error, so an encoder that checks once at the end never uses a value cut short. */
static void test_buf_remembers_its_first_error(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    assert_int_equal(nb_buf_append(&b, "NBS", 3), NB_ERR_OK);
    assert_int_equal(b.err, NB_ERR_OK);
    assert_int_equal(nb_buf_reserve(&b, SIZE_MAX - 1), NB_ERR_NOMEM);
    assert_int_equal(b.err, NB_ERR_NOMEM);
    assert_int_equal(nb_buf_append(&b, "x", 1), NB_ERR_NOMEM);
    assert_int_equal(nb_buf_reserve(&b, 1), NB_ERR_NOMEM);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "NBS", 3);
    nb_buf_free(&b);
    assert_int_equal(b.err, NB_ERR_OK); /* free makes it new */
    assert_int_equal(nb_buf_append(&b, "y", 1), NB_ERR_OK);
    assert_int_equal(b.len, 1);
    nb_buf_free(&b);
}

/* The buffer grows past its first allocation and keeps what was written. */
static void test_buf_grows(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    for (int i = 0; i < 1000; i++) {
        uint8_t x = (uint8_t)i;
        assert_int_equal(nb_buf_append(&b, &x, 1), NB_ERR_OK);
    }
    assert_int_equal(b.len, 1000);
    assert_true(b.cap >= 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.data[i], (uint8_t)i);
    assert_int_equal(nb_buf_append(&b, NULL, 0), NB_ERR_OK);
    assert_int_equal(b.len, 1000);
    nb_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

/* Known bytes in both orders, for every width, and each width's round trip. */
static void test_byte_order_known_values(void **state)
{
    (void)state;
    const uint64_t v = 0x0102030405060708ULL;
    uint8_t p[8];
    static const uint8_t le8[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    static const uint8_t be8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_ptr_equal(nb_le_put(p, v, 8), p + 8);
    assert_memory_equal(p, le8, 8);
    assert_int_equal(nb_le_get(p, 8), v);
    assert_ptr_equal(nb_be_put(p, v, 8), p + 8);
    assert_memory_equal(p, be8, 8);
    assert_int_equal(nb_be_get(p, 8), v);

    /* Narrower fields take the low bytes. */
    static const uint8_t le4[4] = {8, 7, 6, 5};
    static const uint8_t be4[4] = {5, 6, 7, 8};
    static const uint8_t be2[2] = {7, 8};
    memset(p, 0xee, sizeof(p));
    nb_le_put(p, v, 4);
    assert_memory_equal(p, le4, 4);
    assert_int_equal(p[4], 0xee); /* nothing written past the field */
    assert_int_equal(nb_le_get(p, 4), 0x05060708u);
    nb_be_put(p, v, 4);
    assert_memory_equal(p, be4, 4);
    assert_int_equal(nb_be_get(p, 4), 0x05060708u);
    nb_be_put(p, v, 2);
    assert_memory_equal(p, be2, 2);
    assert_int_equal(nb_be_get(p, 2), 0x0708u);

    /* (A buffer wider than any field: GCC 12 at -O3 cannot tell that n stays within 8.) */
    uint8_t wide[16];
    for (size_t n = 1; n <= 8; n++) {
        uint64_t mask = n == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;
        uint64_t w = 0xfedcba9876543210ULL;
        nb_le_put(wide, w, n);
        assert_int_equal(nb_le_get(wide, n), w & mask);
        nb_be_put(wide, w, n);
        assert_int_equal(nb_be_get(wide, n), w & mask);
    }

    /* A negative 32-bit value travels as its bits. */
    int32_t neg = -2;
    nb_le_put(p, (uint32_t)neg, 4);
    assert_int_equal((int32_t)(uint32_t)nb_le_get(p, 4), -2);
}

static void test_buf_put_in_order(void **state)
{
    (void)state;
    nb_buf_t b = {0};
    assert_int_equal(nb_buf_put_le(&b, 0x0a0b0c0d, 4), NB_ERR_OK);
    assert_int_equal(nb_buf_put_be(&b, 0x0a0b0c0d, 4), NB_ERR_OK);
    assert_int_equal(nb_buf_put_le(&b, 0x0102, 2), NB_ERR_OK);
    static const uint8_t want[10] = {0x0d, 0x0c, 0x0b, 0x0a, 0x0a, 0x0b, 0x0c, 0x0d, 0x02, 0x01};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    nb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_remembers_its_first_error),
        cmocka_unit_test(test_buf_grows),
        cmocka_unit_test(test_byte_order_known_values),
        cmocka_unit_test(test_buf_put_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
