// Types for /assets/vendor/uplot.js, which the server serves from node_modules/uplot (type checking only).
import uPlot from 'uplot';
export default uPlot;
