# The safeguarding inbox in a real browser (issue 23): Debian's chromium and chromedriver,
# Selenium (NB_PYTHON's environment) and axe-core (installed by ops/test with npm under
# NB_CACHE), against the daemon and the inbox on the embedded broker. It loads the test-only
# policy overlay policy-overdue.yaml and waits for an escalation rung that falls due about 75 s
# after it starts (NB_BROWSER_RUNG_LEAD_S): about 80 s in all.
add_test(NAME integration.browser_inbox
         COMMAND ${NB_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/inbox_signin.py $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(integration.browser_inbox PROPERTIES LABELS integration TIMEOUT 300)
