#!/usr/bin/env python3
"""The dashboard in a real browser (make test-browser).

Starts `coven-supervisor serve` in local mode on a free port with a temporary state
directory, drives Debian's headless Chromium through chromium-driver with Selenium, and
checks, in order:
  1. logging in with the API token;
  2. submitting the demo task with the dashboard's form;
  3. watching it reach `completed` on the task list, live (no reload);
  4. its task page: the attempt's exit class and output text;
  5. cancelling a second, slow task from its page (its output followed live first);
  6. a logged-out request gets a redirect or 401, a POST without the CSRF token 403.
Screenshots (and the daemon's log) go to --screenshots. Exit status 0 when all pass.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def status_of(url, data=None, headers=None):
    """The status of one request, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


class Run:
    def __init__(self, args):
        self.args = args
        self.shots = os.path.abspath(args.screenshots)
        os.makedirs(self.shots, exist_ok=True)
        self.state = tempfile.mkdtemp(prefix="coven-browser-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.daemon = None
        self.driver = None
        self.step_no = 0

    def step(self, name):
        self.step_no += 1
        print(f"test-browser: {self.step_no}. {name}", flush=True)

    def shot(self, name):
        path = os.path.join(self.shots, f"{self.step_no:02d}-{name}.png")
        self.driver.save_screenshot(path)

    def wait(self, what, condition, timeout=30):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(lambda d: condition())
        except Exception:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def start_daemon(self):
        log = open(os.path.join(self.shots, "serve.log"), "w")
        self.daemon = subprocess.Popen(
            [self.args.binary, "serve", "--state-dir", self.state, "--listen", f"127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                raise AssertionError(f"serve exited with {self.daemon.returncode}; see {log.name}")
            try:
                if status_of(self.base + "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not answer /healthz within 60 s")

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = self.args.chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1280,1100", "--no-first-run", "--disable-extensions"):
            options.add_argument(a)
        self.driver = webdriver.Chrome(service=Service(self.args.driver), options=options)
        self.driver.set_page_load_timeout(30)

    def css(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def texts(self, selector):
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, selector)]

    def submit_task(self, edit=None):
        area = self.css("#task-json")
        if edit:
            self.driver.execute_script("arguments[0].value = arguments[1];", area, edit(area.get_attribute("value")))
        self.css("#submit-task").click()
        notice = self.wait("the submitted notice", lambda: self.driver.find_elements(By.CSS_SELECTOR, "#notice"))[0]
        task_id = notice.text.split("Submitted task ")[1].rstrip(".")
        assert task_id.startswith("t_"), notice.text
        return task_id

    def row_state(self, task_id):
        cells = self.texts(f'tr[data-task="{task_id}"] .state')
        return cells[0] if cells else None

    def run(self):
        began = time.time()
        self.start_daemon()
        token = open(os.path.join(self.state, "api-token")).read().strip()
        self.start_browser()
        d = self.driver

        self.step("log in")
        d.get(self.base + "/")
        assert d.current_url.endswith("/login"), f"logged out, / must lead to /login, got {d.current_url}"
        self.shot("login")
        self.css("#token").send_keys(token)
        self.css("#login").click()
        self.wait("the task list", lambda: d.find_elements(By.CSS_SELECTOR, "#health-panel"))
        cookie = d.get_cookie("coven_session")
        assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", f"session cookie: {cookie}"
        assert token not in d.page_source, "the token must not be in the page"

        self.step("submit the demo task with the form")
        demo = self.submit_task()
        first_seen = self.row_state(demo)
        self.shot("submitted")

        self.step(f"watch {demo} reach completed live (first seen {first_seen})")
        d.execute_script("window.__covenNoReload = true;")
        self.wait("the row to say completed", lambda: self.row_state(demo) == "completed", timeout=90)
        assert d.execute_script("return window.__covenNoReload === true;"), "the page was reloaded, not refreshed"
        self.shot("completed")

        self.step("the task page: exit class and output")
        self.css(f'tr[data-task="{demo}"] a').click()
        self.wait("the task page", lambda: d.find_elements(By.CSS_SELECTOR, "#task-state"))
        assert self.css("#task-state").text == "completed", self.css("#task-state").text
        classes = self.texts("#attempt-1 .exit-class")
        assert classes == ["exited"], f"exit class of attempt 1: {classes}"
        out = self.css("#attempt-1-stdout").text
        assert f"coven-code-example: task {demo}" in out, f"stdout of attempt 1: {out!r}"
        assert "committed coven-example/" in out, f"stdout of attempt 1: {out!r}"
        self.shot("task-page")

        self.step("cancel a slow task from its page")
        d.get(self.base + "/")
        slow = self.submit_task(lambda j: j.replace(json.loads(j)["task"]["issue_body"], "coven-example: slow"))
        d.get(f"{self.base}/tasks/{slow}")
        self.wait("its output, followed live", lambda: "working slowly, 2 s" in (
            (d.find_elements(By.CSS_SELECTOR, "#attempt-1-stdout") or [None])[0].text
            if d.find_elements(By.CSS_SELECTOR, "#attempt-1-stdout") else ""), timeout=60)
        self.shot("slow-running")
        self.css("#cancel").click()
        self.wait("the task to be cancelled", lambda: d.find_elements(By.CSS_SELECTOR, "#task-state")
                  and self.css("#task-state").text == "cancelled", timeout=60)
        classes = self.texts("#attempt-1 .exit-class")
        assert classes == ["cancelled"], f"exit class of the cancelled attempt: {classes}"
        self.shot("cancelled")

        self.step("logged out: redirect or 401; a POST without the CSRF token: 403")
        status, headers = status_of(self.base + "/")
        assert status == 303 and headers.get("Location") == "/login", f"logged-out GET /: {status} {headers.get('Location')}"
        status, _ = status_of(f"{self.base}/ui/tasks/{demo}/attempts/1/output")
        assert status == 401, f"logged-out output request: {status}"
        status = d.execute_script(
            "return fetch(arguments[0], {method: 'POST', credentials: 'same-origin', body: new URLSearchParams()})"
            ".then(function (r) { return r.status; });", f"/tasks/{demo}/retry")
        assert status == 403, f"a POST without the CSRF token from the logged-in browser: {status}"
        d.get(f"{self.base}/tasks/{demo}")
        assert self.css("#task-state").text == "completed", "the refused POST must have changed nothing"
        self.shot("end")
        return time.time() - began

    def close(self):
        if self.driver:
            try:
                self.driver.quit()
            except Exception:
                pass
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        shutil.rmtree(self.state, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--screenshots", required=True)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--driver", default="/usr/bin/chromedriver")
    args = p.parse_args()
    run = Run(args)
    try:
        took = run.run()
        print(f"test-browser: passed, 6 steps in {took:.1f} s; screenshots in {run.shots}")
        return 0
    except Exception as e:
        if run.driver:
            try:
                run.shot("failure")
            except Exception:
                pass
        print(f"test-browser: FAILED at step {run.step_no}: {e}; screenshots and serve.log in {run.shots}", file=sys.stderr)
        return 1
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
