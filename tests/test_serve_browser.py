"""The comparison page of `neural-search serve` in real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium): type a query, read the columns, the explain lines and the
marks on documents several columns found; pick a judged query and read its labels and nDCG@10.
Screenshots go to tests/artifacts/ (gitignored)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from neural_search.engines import open_store
from neural_search.evaluation import evaluate_run, load_collection
from neural_search.search import SearchClient
from neural_search.serve.app import create_app
from neural_search.serve.command import BackgroundServer, ensure_demo_index
from neural_search.serve.service import Judgments, Service, Target

from .conftest import REPO, unavailable

CHROMIUM = os.environ.get("NEURAL_SEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NEURAL_SEARCH_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = REPO / "tests" / "artifacts"
TITANIC = "<dbpedia:Titanic_(1997_film)>"
WAIT = 60


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService
    except ImportError:
        unavailable("selenium is not installed: python3 -m pip install -e '.[test]'")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable(f"Chromium and its driver are needed at {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1500,1000", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def adi(serve_adi, encoder, tmp_path_factory):
    """The films (what `serve --demo` shows) beside ADI (a judged collection), in one embedded engine folder."""
    path, folder = serve_adi
    ensure_demo_index(open_store("embedded", path=str(path)), encoder, state_dir=tmp_path_factory.mktemp("serve-browser-state"), say=lambda _: None)
    return path, folder


def serve(path, encoder, targets, **options) -> tuple[Service, BackgroundServer]:
    service = Service(targets=[Target("embedded", name) for name in targets], open_store=lambda e: open_store("embedded", path=str(path)), encoder=encoder, **options)
    service.warm_up()
    return service, BackgroundServer(create_app(service))


def wait_for(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition, message)


def searched(driver, count: int):
    return wait_for(driver, lambda d: int(d.find_element("tag name", "body").get_attribute("data-searched") or 0) >= count, "the columns never filled")


def columns(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#columns .column")


def test_query_fills_one_column_per_mode_with_explain_and_shared_marks(browser, adi, encoder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, _ = adi
    service, server = serve(path, encoder, ["demo-films"])
    with server:
        browser.get(server.url + "/")
        wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true", "the page never got ready")
        box = browser.find_element(By.ID, "q")
        box.send_keys("ship sinks after hitting an iceberg", Keys.ENTER)
        searched(browser, 1)
        found = columns(browser)
        assert [c.find_element(By.CLASS_NAME, "column-mode").text for c in found] == ["bm25", "knn", "hybrid rrf"]
        with SearchClient(store=open_store("embedded", path=str(path)), index="demo-films", encoder=encoder) as client:
            for column, mode in zip(found, ("bm25", "knn", "hybrid")):
                shown = [hit.get_attribute("data-doc") for hit in column.find_elements(By.CSS_SELECTOR, ".hit")]
                assert shown == client.search("ship sinks after hitting an iceberg", mode=mode, k=10).ids
                assert re.fullmatch(r"[\d.]+ ms", column.find_element(By.CLASS_NAME, "latency").text)
        hybrid = found[2].find_elements(By.CSS_SELECTOR, ".hit")
        assert hybrid[0].find_element(By.CLASS_NAME, "title").text == "Titanic (1997 film)"
        explain = hybrid[0].find_element(By.CLASS_NAME, "explain").text
        assert re.fullmatch(r"bm25: #\d+ raw [\d.]+ -> [\d.]+; knn: #\d+ raw [\d.]+ -> [\d.]+", explain), explain
        # Titanic is in every column: marked in each, with the same colour.
        marks = [c.find_element(By.CSS_SELECTOR, f'.hit[data-doc="{TITANIC}"]') for c in found]
        assert all("shared" in m.get_attribute("class") for m in marks)
        assert len({m.value_of_css_property("border-left-color") for m in marks}) == 1
        alone = [h for c in found for h in c.find_elements(By.CSS_SELECTOR, ".hit")
                 if sum(len(o.find_elements(By.CSS_SELECTOR, f'.hit[data-doc="{h.get_attribute("data-doc")}"]')) for o in found) == 1]
        assert all("shared" not in h.get_attribute("class") for h in alone)
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "serve-demo.png"))
    service.close()


def test_judged_query_shows_labels_and_ndcg_and_the_report(browser, adi, encoder):
    import ir_measures
    from selenium.webdriver.common.by import By

    path, folder = adi
    collection = load_collection(folder, "test")
    service, server = serve(path, encoder, ["serve-adi"], judgments=Judgments.load(folder, "test"), report_dir=REPO / "reports" / "example")
    with server:
        browser.get(server.url + "/")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#judged .judged-query"), "no judged queries listed")
        items = browser.find_elements(By.CSS_SELECTOR, "#judged .judged-query")
        assert len(items) == len(collection.queries)
        qid = items[2].get_attribute("data-qid")
        items[2].click()
        searched(browser, 1)
        assert browser.find_element(By.ID, "q").get_attribute("value") == collection.queries[qid]
        with SearchClient(store=open_store("embedded", path=str(path)), index="serve-adi", encoder=encoder) as client:
            for column, mode in zip(columns(browser), ("bm25", "knn", "hybrid")):
                hits = client.search(collection.queries[qid], mode=mode, k=10).hits
                labels = [h.find_element(By.CLASS_NAME, "label").text for h in column.find_elements(By.CSS_SELECTOR, ".hit")]
                grades = [collection.qrels[qid].get(h.id) for h in hits]
                assert labels == ["unjudged" if g is None else f"rel {g}" for g in grades]
                expected = evaluate_run({qid: collection.qrels[qid]}, [ir_measures.ScoredDoc(qid, h.id, h.score) for h in hits], metrics=("ndcg@10",))
                assert column.find_element(By.CLASS_NAME, "ndcg").text == f"nDCG@10 {expected.means['ndcg@10']:.4f}"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "serve-judged.png"))
        # Typing a query of one's own leaves the judged one: no labels, no nDCG.
        box = browser.find_element(By.ID, "q")
        box.clear()
        box.send_keys("computer")
        browser.find_element(By.ID, "search").click()
        searched(browser, 2)
        assert not browser.find_elements(By.CSS_SELECTOR, "#columns .ndcg") and not browser.find_elements(By.CSS_SELECTOR, "#columns .label")
        # The comparison report, rendered from its Markdown, with its plots loaded.
        link = browser.find_element(By.ID, "report-link")
        wait_for(browser, lambda d: link.is_displayed(), "no report link")
        link.click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#report table"), "the report has no table")
        assert browser.find_element(By.CSS_SELECTOR, "#report h1").text.startswith("Engine comparison")
        images = browser.find_elements(By.CSS_SELECTOR, "#report img")
        assert images and all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in images)
    service.close()
