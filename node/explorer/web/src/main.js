// The explorer's entry point (placeholder until the pages land).
document.querySelector("#app").textContent = "gridchain explorer";
