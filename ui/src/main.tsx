import { render } from 'preact';
import './styles.css';

render(<main><h1>jobq</h1></main>, document.getElementById('app')!);
