// The sales board: shows the chosen day and follows it live over
// Server-Sent Events (GET events?fecha=dd-mm-aaaa). Every URL is relative:
// the board may be served under a prefix (make dev: /tablero/).
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const selector = $('fecha');
  const zona = document.body.dataset.zona || 'America/Santiago';
  const miles = new Intl.NumberFormat('es-CL');
  const hora = new Intl.DateTimeFormat('es-CL', { timeZone: zona, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const tinta = '#2b1d0e';
  const barra = '#c8620e';
  let fuente = null;
  let reintento = null;
  let grafico = null;

  // What the tests (and a curious owner, in the console) can read.
  window.tablero = { actualizaciones: 0, vista: null };

  function vivo(estado) {
    $('vivo').dataset.estado = estado;
    $('vivo').title = estado === 'conectado' ? 'En vivo' : 'Sin conexión: reintentando';
  }

  function textoEstado(v) {
    if (v.report_status === 'partial') {
      return 'Resumen parcial, hasta las ' + hora.format(new Date(v.counted_until));
    }
    return 'Resumen final';
  }

  // numeros draws each bar's exact number beside it.
  const numeros = {
    id: 'numeros',
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      const datos = chart.data.datasets[0].data;
      ctx.save();
      ctx.fillStyle = tinta;
      ctx.font = '600 13px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'left';
      chart.getDatasetMeta(0).data.forEach((bar, i) => {
        ctx.fillText(miles.format(datos[i]), bar.x + 6, bar.y);
      });
      ctx.restore();
    },
  };

  // recortar fits a label of the chart in about max characters (~7 px each
  // at the ticks' 12 px): a name is cut after its last whole word, an
  // address keeps its part before "@"; anything else is cut with "…".
  function recortar(l, max) {
    max = Math.max(8, max);
    if (l.length <= max) return l;
    const arroba = l.indexOf('@');
    if (arroba > 0 && arroba + 2 <= max) return l.slice(0, arroba + 1) + '…';
    const corte = l.lastIndexOf(' ', max - 1);
    return (corte >= max / 2 ? l.slice(0, corte) : l.slice(0, max - 1)) + '…';
  }

  // correos are the addresses of the bars, for the tooltip.
  let correos = [];

  // celdaVendedor writes a vendor as the page's template does: the name,
  // then the address with a break allowed before "@" and each ".".
  function celdaVendedor(td, v) {
    td.className = 'vendedor';
    if (v.nombre) {
      const n = document.createElement('span');
      n.className = 'nombre';
      n.textContent = v.nombre;
      td.appendChild(n);
    }
    const c = document.createElement('span');
    c.className = 'correo';
    v.email_vendedor.split(/(?=[@.])/).forEach((parte, i) => {
      if (i > 0) c.appendChild(document.createElement('wbr'));
      c.appendChild(document.createTextNode(parte));
    });
    td.appendChild(c);
  }

  function crearGrafico() {
    if (grafico || typeof Chart === 'undefined') {
      return grafico;
    }
    grafico = new Chart($('grafico'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'Sopaipillas', data: [], backgroundColor: barra, borderRadius: 4, maxBarThickness: 28 }] },
      options: {
        indexAxis: 'y',
        maintainAspectRatio: false,
        animation: { duration: 300 },
        layout: { padding: { right: 64 } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: (items) => items.map((c) => correos[c.dataIndex] === c.label ? c.label : c.label + ' (' + correos[c.dataIndex] + ')'),
            label: (c) => miles.format(c.parsed.x) + ' sopaipillas',
          } },
        },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0, callback: (v) => miles.format(v) } },
          y: {
            ticks: {
              color: tinta,
              callback(valor) {
                return recortar(this.getLabelForValue(valor), Math.floor(this.chart.width * 0.4 / 7));
              },
            },
          },
        },
      },
      plugins: [numeros],
    });
    return grafico;
  }

  function fila(i, v) {
    const tr = document.createElement('tr');
    const celdas = [String(i + 1), null, miles.format(v.n_sopaipillas), miles.format(v.n_ordenes)];
    celdas.forEach((texto, j) => {
      const td = document.createElement('td');
      if (j === 1) {
        celdaVendedor(td, v);
      } else {
        td.textContent = texto;
      }
      if (j >= 2) td.className = 'n';
      tr.appendChild(td);
    });
    return tr;
  }

  // noContada writes an uncounted version as the page's template does.
  function noContada(u) {
    const li = document.createElement('li');
    const p = (clase) => {
      const e = document.createElement('p');
      e.className = clase;
      li.appendChild(e);
      return e;
    };
    const span = (padre, clase, texto) => {
      const e = document.createElement('span');
      e.className = clase;
      e.textContent = texto;
      padre.appendChild(e);
      padre.appendChild(document.createTextNode(' '));
      return e;
    };
    const cabeza = p('cabeza');
    span(cabeza, 'orden', 'Orden ' + u.order_id);
    if (u.nombre) span(cabeza, 'nombre', u.nombre);
    const c = span(cabeza, 'correo', '');
    u.email_vendedor.split(/(?=[@.])/).forEach((parte, i) => {
      if (i > 0) c.appendChild(document.createElement('wbr'));
      c.appendChild(document.createTextNode(parte));
    });
    p('texto').textContent = u.texto;
    p('por-que').textContent = u.por_que;
    return li;
  }

  function mostrar(v) {
    if (v.fecha !== selector.value.replaceAll('-', '/')) {
      return; // an event of the day shown before
    }
    window.tablero.vista = v;
    window.tablero.actualizaciones++;
    $('estado').textContent = textoEstado(v);
    delete $('estado').dataset.contando;
    $('t-sopaipillas').textContent = miles.format(v.totales.n_sopaipillas);
    $('t-ordenes').textContent = miles.format(v.totales.n_ordenes);
    $('t-vendedores').textContent = miles.format(v.totales.n_vendedores);
    const vacio = v.vendedores.length === 0;
    $('vacio').hidden = !vacio;
    $('grafico-caja').hidden = vacio;
    $('tabla').hidden = vacio;
    const cuerpo = document.querySelector('#tabla tbody');
    cuerpo.replaceChildren(...v.vendedores.map((x, i) => fila(i, x)));
    const noContadas = v.no_contadas || [];
    $('no-contadas').hidden = noContadas.length === 0;
    $('lista-no-contadas').replaceChildren(...noContadas.map(noContada));
    const mas = v.conflicts_total - noContadas.length;
    $('mas-no-contadas').hidden = mas <= 0;
    $('mas-no-contadas').textContent = 'Y ' + mas + ' más: el resumen diario las cuenta todas.';
    const g = crearGrafico();
    if (g) {
      $('grafico-caja').style.height = (v.vendedores.length === 0 ? 0 : 48 + 34 * v.vendedores.length) + 'px';
      g.data.labels = v.vendedores.map((x) => x.nombre || x.email_vendedor);
      correos = v.vendedores.map((x) => x.email_vendedor);
      g.data.datasets[0].data = v.vendedores.map((x) => x.n_sopaipillas);
      g.resize();
      g.update();
    }
    document.body.dataset.actualizado = String(window.tablero.actualizaciones);
  }

  // contando shows how far the whole count of the day has got, as the
  // server's page says it (page.go, countingStatus).
  function contando(c) {
    const hoy = selector.selectedIndex === 0;
    let s = hoy ? 'Contando las ventas de hoy…' : 'Contando las ventas del ' + selector.value.replaceAll('-', '/') + '…';
    const total = c.leidos + c.por_leer;
    if (total > 0) {
      s += ' ' + miles.format(c.leidos) + ' de ' + miles.format(total) + ' registros';
    }
    $('estado').textContent = s;
    $('estado').dataset.contando = '';
  }

  function conectar() {
    clearTimeout(reintento);
    if (fuente) {
      fuente.close();
    }
    const es = new EventSource('events?fecha=' + encodeURIComponent(selector.value));
    fuente = es;
    es.addEventListener('dia', (e) => {
      if (es === fuente) mostrar(JSON.parse(e.data));
    });
    es.addEventListener('contando', (e) => {
      if (es === fuente) contando(JSON.parse(e.data));
    });
    es.addEventListener('problema', () => {
      if (es !== fuente) return;
      $('estado').textContent = 'No se pudieron leer las ventas; reintentando…';
      delete $('estado').dataset.contando;
    });
    es.onopen = () => {
      if (es === fuente) vivo('conectado');
    };
    es.onerror = () => {
      if (es !== fuente) return;
      vivo('desconectado');
      // A network error reconnects by itself (after the server's retry:
      // 2 s); an answer other than 200, as a proxy gives while the
      // function restarts, closes the stream for good: start again.
      if (es.readyState === EventSource.CLOSED) {
        reintento = setTimeout(recuperar, 2000);
      }
    };
  }

  // recuperar asks for the day once (a key no longer valid shows the
  // form again), then follows it again.
  async function recuperar() {
    try {
      const r = await fetch('api/days/' + encodeURIComponent(selector.value), { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (r.status === 401) {
        location.reload();
        return;
      }
      if (r.ok) {
        mostrar(await r.json());
      }
    } catch (e) {
      // still down: the stream below fails and we come back here
    }
    conectar();
  }

  selector.addEventListener('change', () => {
    history.replaceState(null, '', '?fecha=' + encodeURIComponent(selector.value));
    if ($('olvidar')) {
      $('olvidar').action = 'logout?fecha=' + encodeURIComponent(selector.value); // the day, kept after the key
    }
    $('descargar').href = 'api/days/' + encodeURIComponent(selector.value) + '.csv';
    $('estado').textContent = 'Contando…';
    conectar();
  });

  crearGrafico();
  conectar();
})();
