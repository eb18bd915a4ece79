import React from "react";
import { createRoot } from "react-dom/client";

function App() {
  return React.createElement("h1", null, "Hello from the site");
}

createRoot(document.getElementById("root")).render(React.createElement(App));
