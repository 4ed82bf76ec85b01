# CLI-level tests of the policy tools (label: unit). Included by tests/CMakeLists.txt.
# Each runs the notbrought binary from the source directory and checks its exit status and
# output with tests/cli/expect.cmake.
set(NB_CLI_EXPECT ${CMAKE_CURRENT_LIST_DIR}/expect.cmake)
set(NB_POLICY_DIR config/policy)
set(NB_POLICY_DEFAULT ${NB_POLICY_DIR}/wnb-wales-base.yaml|${NB_POLICY_DIR}/cardiff-and-vale.yaml)

function(nb_cli_test name args rc regex)
    add_test(NAME cli.${name}
             COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:notbrought> "-DARGS=${args}"
                     -DEXPECT_RC=${rc} "-DEXPECT_OUT=${regex}" -DWORKDIR=${CMAKE_SOURCE_DIR}
                     -P ${NB_CLI_EXPECT})
    set_tests_properties(cli.${name} PROPERTIES LABELS unit)
endfunction()

# The shipped protocol is valid, and its example cases pass and cover every rule.
nb_cli_test(policy_check_default "policy|check|${NB_POLICY_DEFAULT}" 0
            "^ok: wnb-cardiff-and-vale ")
nb_cli_test(policy_check_base "policy|check|${NB_POLICY_DIR}/wnb-wales-base.yaml" 0
            "^ok: wnb-wales-base ")
nb_cli_test(policy_test_default
            "policy|test|${NB_POLICY_DEFAULT}|--cases|${NB_POLICY_DIR}/cases/default.yaml|--coverage"
            0 "39 cases: 39 passed, 0 failed")
nb_cli_test(policy_explain_default "policy|explain|${NB_POLICY_DEFAULT}" 0
            "RULES.*Source: NICE guideline NG201")

# Broken policies fail with the exact position and the kind of problem.
set(D tests/cli/data)
nb_cli_test(policy_check_syntax "policy|check|${D}/bad-syntax.yaml" 1
            "bad-syntax.yaml:5:1: error: found unexpected end of stream while scanning a quoted scalar \\[policy_syntax\\]")
nb_cli_test(policy_check_unknown_key "policy|check|${D}/unknown-key.yaml" 1
            "unknown-key.yaml:9:43: error: unknown key 'treshold' in count .*\\[policy_unknown_key\\]")
nb_cli_test(policy_check_wrong_type "policy|check|${D}/wrong-type.yaml" 1
            "wrong-type.yaml:9:39: error: 'within_days' must be a whole number, not 'twenty-eight' \\[policy_type\\]")
nb_cli_test(policy_check_unknown_role "policy|check|${D}/unknown-role.yaml" 1
            "unknown-role.yaml:10:38: error: unknown role 'named_nurse' \\(defined roles: hv\\) \\[policy_reference\\]")
nb_cli_test(policy_check_negative_window "policy|check|${D}/negative-window.yaml" 1
            "negative-window.yaml:9:39: error: 'within_days' must not be negative \\(got -7\\) \\[policy_value\\]")
nb_cli_test(policy_check_duplicate_id "policy|check|${D}/duplicate-id.yaml" 1
            "duplicate-id.yaml:11:5: error: rule 'any_wnb' is defined twice \\(first at line 5\\) \\[policy_duplicate\\]")
nb_cli_test(policy_check_cyclic_ladder "policy|check|${D}/cyclic-ladder.yaml" 1
            "cyclic-ladder.yaml:8:11: error: escalation ladders form a cycle: first -> second -> first \\[policy_cycle\\]")
nb_cli_test(policy_check_bad_ladder "policy|check|${D}/bad-ladder.yaml" 1
            "bad-ladder.yaml:17:11: error: escalation rung at 24 hours must come after the rung before it")
nb_cli_test(policy_check_overlay_clash "policy|check|${D}/valid-min.yaml|${D}/overlay-clash.yaml" 1
            "overlay-clash.yaml:3:5: error: rule 'any_wnb' is already defined at .*valid-min.yaml:9:5; say 'override: true'")
# Ownership keys (docs/inbox.md, section 1): checked like every other key, and explained.
nb_cli_test(policy_check_ownership_value "policy|check|${D}/ownership-bad.yaml" 1
            "ownership-bad.yaml:9:24: error: unknown 'escalation_stops_on' 'taken' \\(expected one of: close, take\\) \\[policy_value\\]")
nb_cli_test(policy_check_ownership_role "policy|check|${D}/ownership-unknown-role.yaml" 1
            "ownership-unknown-role.yaml:9:23: error: 'may_reassign_owned' names unknown role 'team_leader' \\[policy_reference\\]")
nb_cli_test(policy_explain_ownership "policy|explain|${D}/ownership.yaml" 0
            "OWNERSHIP.*taken \\(someone owns it\\) or closed.*within 8 hours.*hv_team_leader.*On the ladder leader:.*closed \\(taking it does not stop it\\).*keeps the respond-by")
nb_cli_test(policy_test_missing_cases "policy|test|${D}/valid-min.yaml" 2 "usage: notbrought policy")
# --help after a subcommand is help, not a file name.
nb_cli_test(policy_check_help "policy|check|--help" 0 "^usage: notbrought policy check FILE")
nb_cli_test(policy_explain_help "policy|explain|${D}/valid-min.yaml|-h" 0
            "^usage: notbrought policy check FILE")
# An include stays in the policy's directory: no absolute path, no '..' (the file named is
# never opened, so nothing of it can appear in a message).
nb_cli_test(policy_check_include_absolute "policy|check|${D}/include-absolute.yaml" 1
            "include-absolute.yaml:15:21: error: 'include' must be a path relative to this file's directory, not an absolute path \\[policy_value\\]\n1 error: ")
nb_cli_test(policy_check_include_parent "policy|check|${D}/include-parent.yaml" 1
            "include-parent.yaml:15:21: error: 'include' must not contain '..': the file must be in this file's directory or below it \\[policy_value\\]\n1 error: ")

# Issue 20 (regexes use '.' for ';'). Escalation never before the deadline the recipients were
# given: a rung that can come before the respond-by is refused, with the worst case; rungs from
# the respond-by and explicit early alerts pass. The shipped protocol passes --strict.
nb_cli_test(policy_check_default_strict "policy|check|--strict|${NB_POLICY_DEFAULT}" 0
            "^ok: wnb-cardiff-and-vale ")
nb_cli_test(policy_check_rung_before_deadline "policy|check|${D}/rung-before-deadline.yaml" 1
            "rung-before-deadline.yaml:25:11: error: rule 'under5_multiagency': the escalation rung at 24 hours can come before the respond-by \\(5 working days: a decision on Thursday 18 December 2025 at 00:00 is due by Monday 29 December 2025 at 17:00, 281 hours later\\)\\. Count it from the respond-by \\('from: respond_by'\\), make it at least 281 hours, or, if it is meant to come before the deadline, mark it 'early: true' \\[policy_value\\]")
nb_cli_test(policy_check_escalation_after_deadline
            "policy|check|--strict|${D}/escalation-after-deadline.yaml" 0 "^ok: t 1: ")
# A modifier that raises the tier needs a response time that fits the new tier.
nb_cli_test(policy_check_tier_without_deadline "policy|check|${D}/tier-without-deadline.yaml" 1
            "tier-without-deadline.yaml:20:5: error: modifier 'under1_higher' changes rule 'under5_multiagency' from priority to urgent, but no response time fits urgent: the notification would keep priority \\(5 working days\\)")
nb_cli_test(policy_test_tier_defaults
            "policy|test|${D}/tier-defaults.yaml|--cases|${D}/tier-defaults-cases.yaml" 0
            "2 cases: 2 passed, 0 failed")
# A rule about antenatal appointments that does not say it is for unborn children: a warning,
# an error with --strict.
nb_cli_test(policy_check_antenatal_no_stage "policy|check|${D}/antenatal-no-stage.yaml" 0
            "^ok: t 1: .*antenatal-no-stage.yaml:7:5: warning: rule 'antenatal_wnb_repeated' looks at appointments of unborn children \\(antenatal\\) but does not say which life stage it applies to, so it also fires after the birth, for the baby")
nb_cli_test(policy_check_antenatal_no_stage_strict
            "policy|check|--strict|${D}/antenatal-no-stage.yaml" 1
            "antenatal-no-stage.yaml:7:5: error: rule 'antenatal_wnb_repeated' looks at appointments of unborn children .*\\[policy_value\\]\n1 error: the policy is not valid")
# Appointment types must be in the policy's declared vocabulary ('types').
nb_cli_test(policy_check_type_typo "policy|check|${D}/type-typo.yaml" 1
            "type-typo.yaml:12:19: error: rule 'missed_dental': unknown appointment type 'dentl' \\(not in the policy's 'types', so it would never match\\). did you mean 'dental'\\? \\[policy_reference\\]")
nb_cli_test(policy_check_no_types "policy|check|${D}/no-types.yaml" 0
            "^ok: t 1: .*no-types.yaml: warning: the policy declares no vocabulary of appointment types")
nb_cli_test(policy_check_no_types_strict "policy|check|--strict|${D}/no-types.yaml" 1
            "no-types.yaml: error: the policy declares no vocabulary of appointment types")
# A failing case says why the rule did not fire: the count, the threshold and the window.
nb_cli_test(policy_test_why_not "policy|test|${D}/valid-min.yaml|--cases|${D}/why-cases.yaml" 1
            "expected any_wnb to fire. it did not: 0 matching appointments in the 28 days from 2025-02-10T12:00:00.000Z to 2025-03-10T12:00:00.000Z. needs at least 1 \\(1 more before the window\\)")

# The version names the librdkafka found at run time (which brokers and logins work with it).
nb_cli_test(version "version" 0
            "^notbrought [0-9]+\\.[0-9]+\\.[0-9]+ \\(librdkafka [0-9]+\\.[0-9]+\\.[0-9]+")

# The clinical safety case (docs/clinical-safety.md) cites only tests that exist (asking this
# build's ctest), every hazard has every column of the log and the issue's hazards are all
# there; then it checks that it can fail (python3, stdlib only; needs no binary).
add_test(NAME cli.safety_case
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/safety_case.py --source-dir ${CMAKE_SOURCE_DIR}
                 --build-dir ${CMAKE_BINARY_DIR} --ctest ${CMAKE_CTEST_COMMAND} --self-test)
set_tests_properties(cli.safety_case PROPERTIES LABELS unit TIMEOUT 60)

# The admin HTTP port: loopback by default, and 500 slow-headers connections from 127.0.0.2
# neither keep /healthz from 127.0.0.1 waiting nor flood the log (python3, stdlib only; the
# real daemon on the embedded broker).
add_test(NAME cli.http_slow_clients
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/http_slow_clients.py $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.http_slow_clients PROPERTIES LABELS cli TIMEOUT 60)

# The safeguarding inbox's signing in (issue 23, docs/inbox.md §3) against the running
# `notbrought inbox`: passwords, cookies, CSRF, sign-out, rate limits, the trusted proxy's
# header, TLS and the security headers (python3, stdlib only; openssl for the certificate).
add_test(NAME cli.inbox_web
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/inbox_web.py $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.inbox_web PROPERTIES LABELS "cli;integration" TIMEOUT 180)

# Untrusted text and validation at the door (issue 18): decode reports every refused record
# with its code and field and prints nothing raw; consume reports what it cannot decode, exits
# 1, and escapes line breaks in the nurse's text view. Needs fastavro (NB_PYTHON).
set(NB_TEXT_PYTHON ${NB_PYTHON})
if(NOT NB_TEXT_PYTHON)
    set(NB_TEXT_PYTHON python3)
endif()
add_test(NAME cli.text_safety_decode
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/text_safety.sh decode $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR} ${NB_TEXT_PYTHON})
set_tests_properties(cli.text_safety_decode PROPERTIES LABELS unit TIMEOUT 60)
add_test(NAME cli.text_safety_consume
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/text_safety.sh consume $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR} ${NB_TEXT_PYTHON})
set_tests_properties(cli.text_safety_consume PROPERTIES LABELS integration TIMEOUT 120)

# Policy text goes into notifications: a bidirectional override in it is refused where it stands.
nb_cli_test(policy_check_bidi_text "policy|check|${D}/bidi-text.yaml" 1
            "bidi-text.yaml:14:[0-9]+: error: the document has text that holds a bidirectional embedding, override or isolate")

# Replay resolves identity as the daemon does (issue 20): an event with only a local
# identifier waits for its link and is then counted; one never linked is reported as waiting.
# One that waits longer than identity.park_retention_ms expires, as the daemon dead-letters it
# (here both wait a day: the link releases nothing). A clock that goes back is refused with
# the line.
nb_cli_test(replay_local_id_by_link "replay|--policy|${D}/valid-min.yaml|${D}/replay-local-id.jsonl" 0
            "not applied: 1 waiting for an identity link, 0 expired waiting for one, 0 refused.*any_wnb +routine +1 ")
nb_cli_test(replay_park_retention
            "replay|--policy|${D}/valid-min.yaml|--park-retention-ms|3600000|${D}/replay-local-id.jsonl" 0
            "not applied: 0 waiting for an identity link, 2 expired waiting for one, 0 refused.*any_wnb +routine +0 ")
nb_cli_test(replay_park_retention_invalid
            "replay|--policy|${D}/valid-min.yaml|--park-retention-ms|5|${D}/replay-local-id.jsonl" 2
            "--park-retention-ms '5': milliseconds, from 1000 to ")
# The deployment's key (--hmac-key-file) is refused, without being shown, when it could not be
# the daemon's (integration.scenarios shows that with the daemon's key the ids are the same).
nb_cli_test(replay_hmac_key_short
            "replay|--policy|${D}/valid-min.yaml|--hmac-key-file|${D}/replay-short.key|${D}/replay-local-id.jsonl" 1
            "--hmac-key-file [^ ]*replay-short.key: the key must be 16 to 511 characters\n$")
nb_cli_test(replay_clock_backwards "replay|--policy|${D}/valid-min.yaml|${D}/replay-clock-back.jsonl" 1
            "replay-clock-back.jsonl:3:1: the clock must not go back")


# A policy change signed off by replay: `replay --compare` reports, for each child
# and each decision, what changes (recipients and respond-by, tier, a rule suppressed), in
# text and as JSON (python3, stdlib only).
add_test(NAME cli.replay_compare
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/replay_compare.py $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.replay_compare PROPERTIES LABELS cli TIMEOUT 120)

# Issue 22: source mappings (docs/integration.md). The example mappings are valid and say what
# an unmapped type becomes; broken ones fail with file:line:column; `mapping test` prints the
# records a message maps to, compares them with expected lines written by hand (the ids are the
# two halves of SHA-256 over MSH-3, -4, -9 and -10, computed with sha256sum), and prints
# refusals.
set(M tests/cli/data/mapping)
nb_cli_test(mapping_check_gp "mapping|check|config/mappings/gp-practice.yaml" 0
            "^ok: gp-practice-w97001: hl7v2 for gp W97001 .*appointment types: 14 codes, unmapped -> consultation")
nb_cli_test(mapping_check_maternity "mapping|check|config/mappings/maternity.yaml" 0
            "^ok: maternity-7a4: hl7v2 for midwifery .*unmapped refused.*subject: unborn")
nb_cli_test(mapping_check_health_visiting "mapping|check|config/mappings/health-visiting.yaml" 0
            "^ok: health-visiting-7a5: hl7v2 for health_visiting .*outcome 10 codes")
nb_cli_test(mapping_check_unknown_key "mapping|check|${M}/unknown-key.yaml" 1
            "unknown-key.yaml:10:3: error: unknown key 'colour' in hl7v2 \\[config\\]\n1 error: the mapping is not valid")
nb_cli_test(mapping_check_fhir_unknown_key "mapping|check|${M}/fhir-section.yaml" 1
            "fhir-section.yaml:11:3: error: unknown key 'appointment' in fhir")
# FHIR R4: a made-up home visit Appointment (noshow on a new birth visit, made at home:
# no_access_visit), and the same with an NHS number failing Modulus 11, refused with the path.
nb_cli_test(mapping_test_fhir "mapping|test|config/mappings/health-visiting.yaml|${M}/hv-noshow.json"
            0 "\"nhs_number\":\"9990010005\".*\"id\":\"hv-0042\",\"type\":\"new_birth_visit\",\"mandated_contact\":true,\"contact_mode\":\"home_visit\".*\"status\":\"no_access_visit\",\"recorded_at\":\"2026-02-03T11:20:00.000Z\"")
# The fhir section's identity_links: the Patient's community number and NHS number also give
# the link between them, its id the second half of the SHA-256 whose first half is the event's
# (computed by hand: printf '%s\0' 7A5 'Community health system (7A5 health visiting)'
# Appointment hv-0042 version 2 | sha256sum).
nb_cli_test(mapping_test_fhir_link "mapping|test|config/mappings/health-visiting.yaml|${M}/hv-noshow.json"
            0 "\"event_id\":\"fhir-89da7dc59509b9eb5a70ea188c183d0d\".*\n.*\"type\":\"org.notbrought.v1.IdentityLink\",\"record\":{\"event_id\":\"fhir-590ae7fbb0557604a525d683cce0f0d5\",\"kind\":\"link\",\"from\":{\"system\":\"https://fhir.example.nhs.uk/Id/7a5-community-number\",\"value\":\"C7001\"},\"to\":{\"system\":\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9990010005\"}")
nb_cli_test(mapping_test_fhir_mod11 "mapping|test|config/mappings/health-visiting.yaml|${M}/hv-mod11.json"
            0 "\"code\":\"nhs_check_digit\",\"text\":\"Appointment.participant\\[0\\].actor.resolve\\(\\).identifier\\[0\\]: NHS number fails the Modulus 11 check\"")
# ADT^A04, a PAS registering an outpatient's arrival (made-up messages through the test
# mapping for English PAS feeds): attended by the message type without a ZU3 segment; ZU3-3
# "3" (did not attend) wins over the message type.
nb_cli_test(mapping_test_adt_a04 "mapping|test|tests/data/mappings/realdata-uk-pas.yaml|${M}/pas-a04.hl7"
            0 "\"outcome\":\"mapped\".*\"nhs_number\":\"9990000018\".*\"appointment\":{\"id\":\"BAS-OP9001\".*\"scheduled_start\":\"2024-01-15T09:30:00.000Z\"},\"status\":\"attended\",\"recorded_at\":\"2024-01-15T09:35:00.000Z\"")
nb_cli_test(mapping_test_adt_a04_zu3 "mapping|test|tests/data/mappings/realdata-uk-pas.yaml|${M}/pas-a04-zu3-dna.hl7"
            0 "\"outcome\":\"mapped\".*\"appointment\":{\"id\":\"BAS-OP9002\".*\"status\":\"was_not_brought\"")
nb_cli_test(mapping_check_missing "mapping|check|${M}/no-such-mapping.yaml" 3
            "no-such-mapping.yaml: error: cannot read the mapping: No such file or directory \\[io\\]")
nb_cli_test(mapping_test_expect "mapping|test|config/mappings/gp-practice.yaml|${M}/gp-s26.hl7|--expect|${M}/gp-s26.jsonl"
            0 "PASS: 2 lines as expected")
nb_cli_test(mapping_test_expect_differs "mapping|test|config/mappings/gp-practice.yaml|${M}/gp-s26.hl7|--expect|${M}/gp-s26-wrong.jsonl"
            1 "line 1 differs:.*FAIL: 1 difference")
nb_cli_test(mapping_test_refused "mapping|test|config/mappings/gp-practice.yaml|${M}/gp-s12-mod11.hl7"
            0 "\"outcome\":\"refused\",\"ack\":\"AE\",\"code\":\"nhs_check_digit\",\"text\":\"PID-3 repetition 2: NHS number fails the Modulus 11 check\"")
nb_cli_test(mapping_check_help "mapping|check|--help" 0 "^usage: notbrought mapping check FILE")
nb_cli_test(mapping_test_usage "mapping|test|config/mappings/gp-practice.yaml" 2
            "invalid arguments.*usage: notbrought mapping")

# `notbrought chronology` (issue 24, docs/reporting.md "Chronology") on the embedded broker,
# after the daemon has run over sample data: by NHS number (stdin, file) and by reference;
# text, CSV (parsed) and HTML (parsed: no script, nothing external); every audit record of the
# child in time order; a chronology_read record per reading; the number refused on the command
# line and never in a log; nothing printed when the reading cannot be recorded (python3 only).
add_test(NAME cli.chronology
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/chronology.py $<TARGET_FILE:notbrought>
                 ${CMAKE_SOURCE_DIR})
set_tests_properties(cli.chronology PROPERTIES LABELS "cli;integration" TIMEOUT 240)
