// sendwell console: enhancements only. Every page works without this file.
// Forms whose button is marked data-confirm ask before they are sent.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var text = button && button.getAttribute("data-confirm");
  if (text && !window.confirm(text)) {
    event.preventDefault();
  }
});
