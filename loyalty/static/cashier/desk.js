// Cashier desk: one click per submit, print buttons, and the optional camera scanner.
// Plain browser APIs only; htmx is loaded separately (django-htmx).
(function () {
  "use strict";

  // A second click on "Confirm" must not send a second request. Buttons are disabled
  // after the submit event, so the browser still sends the clicked button's value.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) return;
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.disabled = true;
        b.setAttribute("aria-busy", "true");
      });
    }, 0);
  });
  // Coming back with the browser's back button shows the form enabled again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.disabled = false;
        b.removeAttribute("aria-busy");
      });
    });
  });

  // In the receipt form Enter moves to the next field instead of confirming: scanners
  // end a receipt number with Enter, and a receipt is confirmed only by its button.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
    var form = event.target.form;
    if (!form || !form.hasAttribute("data-enter-next")) return;
    event.preventDefault();
    var fields = Array.prototype.slice.call(
      form.querySelectorAll("input:not([type=hidden]), select, button[type=submit]")
    );
    var next = fields[fields.indexOf(event.target) + 1];
    if (next) next.focus();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });

  // Scanning a card with the tablet camera where the browser has BarcodeDetector.
  function setUpScanner() {
    var button = document.getElementById("scan-button");
    var dialog = document.getElementById("scan-dialog");
    var video = document.getElementById("scan-video");
    var form = document.getElementById("lookup-form");
    if (!button || !dialog || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    var stream = null;
    var running = false;
    button.hidden = false;

    function stop() {
      running = false;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      if (dialog.open) dialog.close();
    }

    button.addEventListener("click", async function () {
      var detector;
      try {
        detector = new window.BarcodeDetector({ formats: ["ean_13", "qr_code", "code_128"] });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch (err) {
        stop();
        return;
      }
      video.srcObject = stream;
      await video.play();
      dialog.showModal();
      running = true;
      (async function loop() {
        while (running) {
          try {
            var codes = await detector.detect(video);
            if (codes.length) {
              form.querySelector("input[name=query]").value = codes[0].rawValue;
              stop();
              form.requestSubmit();
              return;
            }
          } catch (err) { /* a frame that could not be read: try the next one */ }
          await new Promise(function (r) { window.setTimeout(r, 200); });
        }
      })();
    });
    document.getElementById("scan-cancel").addEventListener("click", stop);
    dialog.addEventListener("close", stop);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpScanner);
  } else {
    setUpScanner();
  }
})();
