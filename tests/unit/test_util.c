/*
 * unit.util: the growable buffer.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_remembers_its_first_error),
        cmocka_unit_test(test_buf_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
