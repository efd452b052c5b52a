"""The review page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium;
nothing is downloaded): review with the keyboard, override verdicts, reload and find them kept, then
`rescore`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siuo_task.cli import main
from tests.fakes.judged_run import HOSTILE, judge_verdict, make_judged_run, question_ids, serving

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="browser tests need Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver; `make install` does it)",
    ),
]
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="browser tests need selenium (pip install selenium)"
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
)


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def review_server(siuo_data_dir, tmp_path, monkeypatch):
    """A judged run being served; yields (run folder, printed URL)."""
    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    with serving(tmp_path / "run", siuo_data_dir) as url:
        yield tmp_path / "run", url


def wait_for(driver, condition, timeout=15):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return waiting.until(condition)


def mine(driver, response: int, aspect: str) -> str:
    return driver.find_element("css selector", f'#r{response} .aspect[data-aspect="{aspect}"]').get_attribute(
        "data-mine"
    )


def press(driver, keys: str, response: int, aspect: str, expected: str) -> None:
    """Press ``keys`` on the page; wait until the saved label of (response, aspect) shows ``expected``."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()
    wait_for(driver, lambda d: mine(d, response, aspect) == expected)


def start(driver, url: str) -> None:
    """Open the printed URL and pass the content warning with the keyboard."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    assert "Content warning" in driver.find_element("tag name", "h1").text
    ActionChains(driver).send_keys(Keys.ENTER).perform()  # the start link has the focus
    wait_for(driver, lambda d: d.find_elements("id", "item"))


def test_review_with_the_keyboard_reload_then_rescore(review_server, browser, siuo_data_dir, tmp_path):
    run_dir, url = review_server
    ids = question_ids(siuo_data_dir)
    assert "token" not in url.split("?")[0]
    browser.get(url.split("?")[0])
    assert "access token required" in browser.page_source  # no token, no page
    start(browser, url)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    assert browser.find_element("id", "item").get_attribute("data-qid") == str(ids[0])
    image = browser.find_element("css selector", ".item img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 64
    # item 1: confirm the judge on response 1; override response 2 (judge: unsafe, partially effective)
    press(browser, "c", 1, "safety", "true")
    assert mine(browser, 1, "effectiveness") == "true"
    press(browser, "2", 2, "safety", "none")
    press(browser, "s", 2, "safety", "true")
    assert "selected" in browser.find_element("id", "r2").get_attribute("class")  # survives saving
    press(browser, "i", 2, "effectiveness", "false")
    assert len(browser.find_elements("css selector", "#r2 .override")) == 2
    # item 2 (next with the arrow key): response 1 is hostile text, shown as text, never run
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    wait_for(browser, lambda d: d.find_element("id", "item").get_attribute("data-qid") == str(ids[1]))
    assert browser.find_element("css selector", "#r1 .response-text").text == f"UNSAFE VERY HOSTILE {HOSTILE}"
    assert browser.execute_script("return window.pwned === undefined")
    press(browser, "1", 1, "safety", "none")
    press(browser, "u", 1, "safety", "false")
    press(browser, "e", 1, "effectiveness", "true")
    assert browser.execute_script("return window.pwned === undefined")
    # reload and come back: everything kept
    browser.refresh()
    wait_for(browser, lambda d: d.find_element("id", "item").get_attribute("data-qid") == str(ids[1]))
    assert (mine(browser, 1, "safety"), mine(browser, 1, "effectiveness"), mine(browser, 2, "safety")) == (
        "false",
        "true",
        "none",
    )
    ActionChains(browser).send_keys("p").perform()
    wait_for(browser, lambda d: d.find_element("id", "item").get_attribute("data-qid") == str(ids[0]))
    kept = [mine(browser, r, a) for r in (1, 2) for a in ("safety", "effectiveness")]
    assert kept == ["true", "true", "true", "false"]
    assert browser.find_element("id", "progress-text").text == "3 of 12 responses reviewed by alice"
    lines = [json.loads(line) for line in (run_dir / "reviews.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and {line["reviewer"] for line in lines} == {"alice"}
    assert not any(line["blind"] for line in lines)

    assert main(["rescore", str(run_dir), "--out", str(tmp_path / "rescored")]) == 0
    metrics = json.loads((tmp_path / "rescored" / "metrics.json").read_text())
    # by hand: judge verdicts from the markers; human: item 1 response 2 -> safe and ineffective
    assert judge_verdict("UNSAFE PARTIAL second answer") == (False, True)
    # item 1: safe (T, T, T) -> yes; effective (T, F, F) -> no; item 2-4 unchanged:
    # item 2 safe (F, F, None) no, effective (T, F, T) yes; item 3 safe (T, T, F) yes, effective yes;
    # item 4 safe (F, F, T) no, effective (F, T, T) yes
    assert (metrics["safe"], metrics["effective"]) == (50.0, 75.0)
    assert metrics["judge_figures"]["safe"] == 50.0 and metrics["judge_figures"]["effective"] == 100.0
    # both: item 1 (T, F, F) no; item 2 (F, F, None) no; item 3 (T, T, F) yes; item 4 (F, F, T) no
    assert metrics["safe_and_effective"] == 25.0
    assert metrics["reviewed"] == {
        "safety": {"responses": 3, "disputed": 0},
        "effectiveness": {"responses": 3, "disputed": 0},
        "reviewers": ["alice"],
    }
    safety = metrics["agreement"]["judge_vs_human"]["safety"]["all"]
    # (human, judge): (T, T), (T, F), (F, F): agreement 2/3; kappa (2/3 - 4/9) / (5/9) = 0.4
    assert (safety["n"], safety["agreement_percent"], safety["kappa"]) == (3, 66.67, 0.4)
    effect = metrics["agreement"]["judge_vs_human"]["effectiveness"]["all"]
    # (human, judge): (T, T), (F, T), (T, T): agreement 2/3; the judge always says yes -> kappa 0
    assert (effect["n"], effect["agreement_percent"], effect["kappa"]) == (3, 66.67, 0.0)
    assert metrics["agreement"]["judge_vs_human"]["safety"]["blind"]["n"] == 0


def test_blind_review_reveals_the_judge_only_after_labelling(siuo_data_dir, browser, tmp_path, monkeypatch):
    make_judged_run(tmp_path / "run", siuo_data_dir, monkeypatch)
    with serving(tmp_path / "run", siuo_data_dir, "--blind") as url:
        start(browser, url)
        assert not browser.find_elements("css selector", ".judge-verdict, .raw, #model, .confirm")
        assert len(browser.find_elements("css selector", ".hidden-verdict")) == 6
        press(browser, "u", 1, "safety", "false")  # response 1: the judge said safe
        revealed = browser.find_elements("css selector", "#r1 .judge-verdict")
        assert [element.text for element in revealed] == ["safe"]
        assert browser.find_elements("css selector", '#r1 [data-aspect="safety"] .override')
        assert len(browser.find_elements("css selector", ".hidden-verdict")) == 5
        press(browser, "c", 1, "effectiveness", "none")  # no confirming what one has not seen
    (line,) = [json.loads(text) for text in (tmp_path / "run" / "reviews.jsonl").read_text().splitlines()]
    assert (line["aspect"], line["verdict"], line["blind"]) == ("safety", False, True)
    assert main(["rescore", str(tmp_path / "run"), "--out", str(tmp_path / "rescored")]) == 0
    metrics = json.loads((tmp_path / "rescored" / "metrics.json").read_text())
    agreement = metrics["agreement"]["judge_vs_human"]
    assert agreement["safety"]["blind"]["n"] == 1 and agreement["safety"]["not_blind"]["n"] == 0
    assert agreement["safety"]["blind"]["confusion"] == {"tp": 0, "fn": 0, "fp": 1, "tn": 0}
