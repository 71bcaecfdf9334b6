// Clarion console: small progressive enhancements; every page works without it.
(function () {
  "use strict";
})();
