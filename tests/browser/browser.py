"""A real browser for the inbox's tests: Debian's chromium, headless, driven by Selenium through
Debian's chromedriver (nothing is downloaded), and axe-core's accessibility checks run in the
page. Used by tests/browser/*.py.

Environment: NB_CHROMIUM (default /usr/bin/chromium), NB_CHROMEDRIVER (/usr/bin/chromedriver),
NB_AXE_JS (axe-core's axe.min.js; default: where ops/test installs it with npm,
NB_CACHE/npm, NB_CACHE being ~/.cache/notbrought unless set).
"""
import json
import os
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

# WCAG 2.2 A and AA, as axe-core tags them.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def start(accept_insecure_certs=False):
    """A headless chromium in a fresh profile. The flags keep it off the network it cannot reach
    (background services, component updates) and let it run as root in a container."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("NB_CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,900",
                 "--user-data-dir=" + tempfile.mkdtemp(prefix="nb-chromium-")):
        opts.add_argument(flag)
    opts.accept_insecure_certs = accept_insecure_certs
    service = Service(executable_path=os.environ.get("NB_CHROMEDRIVER", "/usr/bin/chromedriver"))
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never fetch a driver
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver, predicate, timeout=30, what="a condition"):
    """Waits until predicate(driver) is true (polled), failing with what was awaited."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        predicate, message=f"waited {timeout} s for {what}")


def gone(element):
    """A predicate: @p element is no longer in the page (the page was replaced). Chromium
    says so as a stale element, or, while the new document is being attached, as an inspector
    error ("Node with given id does not belong to the document")."""
    def predicate(_driver):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e) or "not attached" in str(e):
                return True
            raise
    return predicate


def axe(driver, tags=None):
    """Runs axe-core on the page; returns its violations (a list of dicts: id, impact, help,
    nodes), restricted to the WCAG tags given (default WCAG 2.2 A and AA)."""
    cache = os.environ.get("NB_CACHE", os.path.expanduser("~/.cache/notbrought"))
    path = os.environ.get("NB_AXE_JS", os.path.join(
        cache, "npm", "node_modules", "axe-core", "axe.min.js"))
    with open(path, encoding="utf-8") as f:
        driver.execute_script(f.read())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify("
        "[{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));",
        tags or WCAG_AA)
    return json.loads(result)


def describe(violations):
    """The violations as lines a developer can act on."""
    out = []
    for v in violations:
        targets = ", ".join(" ".join(n.get("target", [])) for n in v.get("nodes", [])[:3])
        out.append(f"{v.get('impact')}: {v.get('id')}: {v.get('help')} ({targets})")
    return "\n".join(out)
