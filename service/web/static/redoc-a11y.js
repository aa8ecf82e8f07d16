// Two repairs to ReDoc's rendering on /redoc, so that it passes the accessibility check the pages
// pass (axe-core, WCAG 2.1 AA), made whenever ReDoc draws:
// - a code sample that scrolls sideways is reachable by keyboard (tabindex="0", WCAG 2.1.1);
// - a menu entry whose aria-label differs from the words it shows is named by those words (2.5.3).
(function () {
  function repair(root) {
    root.querySelectorAll("pre").forEach(function (pre) {
      if (pre.scrollWidth > pre.clientWidth && !pre.hasAttribute("tabindex")) {
        pre.setAttribute("tabindex", "0");
      }
    });
    root.querySelectorAll("li[aria-label]").forEach(function (item) {
      if (item.textContent.trim() && item.getAttribute("aria-label").indexOf(item.textContent.trim()) !== 0) {
        item.removeAttribute("aria-label");
      }
    });
  }
  window.addEventListener("load", function () {
    var target = document.querySelector("redoc") || document.body;
    new MutationObserver(function () { repair(target); }).observe(target, {childList: true, subtree: true});
    repair(target);
  });
})();
